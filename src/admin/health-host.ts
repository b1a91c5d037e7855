// The health listener (`health: { listen }`): what load balancers, kubelets and Prometheus ask,
// with no token (say nothing secret here; bind it where only they reach it):
//   GET /livez    200 while the process serves HTTP at all
//   GET /readyz   200 once every face listens, 503 before that and from SIGTERM on (draining),
//                 so a balancer stops sending new connections before listeners close
//   GET /metrics  the Prometheus text of the whole host (every worker, the primary's own)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { formatHostPort } from '../net/address.js';
import type { RuntimeService } from '../runtime/admin-view.js';

export interface HealthSource {
  /** Every face listens and the daemon is not draining. */
  ready(): boolean;
  /** Prometheus text exposition of every metric of the host. */
  scrape(): Promise<string>;
}

export class HealthHost implements RuntimeService {
  private server: http.Server | undefined;
  private bound: string | undefined;
  private failed: string | undefined;

  constructor(
    private readonly source: HealthSource,
    private readonly log: Logger,
  ) {}

  address(): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'GET only\n');
    if (path === '/livez') return text(200, 'ok\n');
    if (path === '/readyz') return this.source.ready() ? text(200, 'ready\n') : text(503, 'not ready\n');
    if (path === '/metrics') {
      void this.source.scrape().then(
        (body) => text(200, body, 'text/plain; version=0.0.4; charset=utf-8'),
        (err: unknown) => {
          this.log.warn({ err }, 'health: metrics scrape failed');
          text(503, 'metrics unavailable\n');
        },
      );
      return;
    }
    text(404, 'see /livez, /readyz and /metrics\n');
  }

  /** Why the health listener is not serving as configured, or undefined (see AdminHost.failure). */
  failure(): string | undefined {
    return this.failed;
  }

  async apply(loaded: LoadedConfig): Promise<void> {
    const h = loaded.config.health;
    const want = h ? formatHostPort(h.listen.host, h.listen.port) : undefined;
    if (want === this.bound) return;
    this.failed = undefined;
    await this.close();
    if (!h || !want) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: h.listen.host, port: h.listen.port }, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.failed = `cannot listen on ${want}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.log.error(
        { listen: want, code: (err as NodeJS.ErrnoException).code },
        'health listener not started: cannot listen; free the port or change health.listen',
      );
      return;
    }
    server.on('error', (err) => this.log.error({ err }, 'health listener error'));
    this.server = server;
    this.bound = want;
    const a = this.address();
    this.log.info(
      { health: a ? formatHostPort(a.host, a.port) : want },
      'health listener: /livez /readyz /metrics',
    );
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.bound = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

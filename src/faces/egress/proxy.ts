// One egress proxy's life on the sockets the runtime accepted and admitted: the fast front
// (fast-front.ts) on every accepted socket and Node's HTTP/1.1 server (strict, bounded header
// size, header timeout) for what it hands off; settings and files per snapshot (configure,
// applied), the access log, the idle sweep, the upstream pool and agent, drain and shutdown; and
// heads that never became a request (too large, too slow, malformed). Each request is routed to
// the file of its traffic path: plain-http.ts (then forward.ts or fast-forward.ts) for plain
// HTTP, tunnel.ts for CONNECT and Upgrade; decide.ts and proxy-state.ts are what the paths share.
// Cut here because this file holds what lives as long as the proxy, the paths what lives as long
// as one request: each path takes this object, so nothing is built for the routing.
import { RefusalLog } from '../../pipeline/limits.js';
import { ConcurrencyGate } from '../../policy/connection-limits.js';
import { shareLimit } from '../limits.js';
import { clientIp, clientOf } from '../../pipeline/proxy-header.js';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { idleInterval } from '../../pipeline/idle-watch.js';
import type { FaceContext } from '../context.js';
import { openAccessLog, type AccessLog } from './access-log.js';
import type { ProxySettings } from './compile.js';
import { ParseMemo } from './decide.js';
import { serveFast, type FastConnection, type FastHandlers, type ProxyRequest } from './fast-front.js';
import { EgressFiles, type FileEvent } from './files.js';
import { IdleSweep } from './idle-sweep.js';
import type { EgressMetrics } from './metrics.js';
import { serveRequest } from './plain-http.js';
import { failed, record, type Gauge, type ProxyState } from './proxy-state.js';
import type { RecordSite } from './record.js';
import { serveTunnel } from './tunnel.js';
import { UpstreamPool } from './upstream-pool.js';
import { rawReply, replyForCode, type WireReply } from './wire.js';

/** Idle keep-alive connections close after this long (Node's server uses the same). */
const KEEP_ALIVE_TIMEOUT = 60_000;

function fromIncoming(req: http.IncomingMessage): ProxyRequest {
  return {
    method: req.method ?? '-',
    url: req.url ?? '',
    rawHeaders: req.rawHeaders,
    proxyAuthorization: req.headers['proxy-authorization'],
    socket: req.socket,
  };
}

/** The fields the traffic paths read are ProxyState's; the rest is this file's own. */
export class EgressProxy implements ProxyState {
  private server: http.Server;
  private serverKey: string;
  readonly agent = new http.Agent({
    keepAlive: true,
    maxFreeSockets: 256,
    scheduling: 'lifo',
    timeout: 60_000,
  });
  ctx: FaceContext | undefined;
  site: RecordSite;
  accessLog: AccessLog | undefined;
  private accessLogKey: string | undefined;
  draining = false;
  private readonly pendingEvents: FileEvent[] = [];
  readonly files: EgressFiles;
  readonly memo = new ParseMemo();
  readonly upstreams = new UpstreamPool(() => this.idleSweep.wake());
  private readonly idleSweep = new IdleSweep(
    () => this.ctx?.timers,
    () => idleInterval(this.settings.headersTimeout, this.settings.idleTimeout, KEEP_ALIVE_TIMEOUT),
    (now) => {
      for (const c of this.fastConnections) c.sweep(now);
      this.upstreams.sweep(now);
      return this.fastConnections.size > 0 || this.upstreams.size > 0;
    },
  );
  readonly inflight: Gauge;
  readonly tunnels: Gauge;
  readonly concurrency = new ConcurrencyGate('max_concurrent', 'max_concurrent_per_principal');
  readonly limitLog = new RefusalLog();
  private readonly fastConnections = new Set<FastConnection>();
  private readonly fast: FastHandlers = {
    maxHeaderSize: () => this.settings.maxHeaderSize,
    headersTimeout: () => this.settings.headersTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
    draining: () => this.draining,
    request: (req, res, done) => serveRequest(this, req, res, undefined, done),
    connect: (req, head) =>
      void this.contain(serveTunnel(this, 'connect', req, req.socket, head), req.socket),
    headTimeout: (socket) => this.onClientError(timeoutError(), socket),
    handOff: (socket, pending) => {
      socket.pause();
      if (pending) socket.unshift(pending);
      this.server.emit('connection', socket);
      socket.resume();
    },
  };

  constructor(
    public settings: ProxySettings,
    readonly metrics: EgressMetrics,
  ) {
    this.site = {
      settings,
      metrics,
      accessLog: undefined,
      log: undefined,
      audit: undefined,
      outcomes: undefined,
    };
    this.files = new EgressFiles((e) => this.onFileEvent(e));
    this.inflight = metrics.inflightChild(settings.name);
    this.tunnels = metrics.tunnelsChild(settings.name);
    this.serverKey = `${settings.maxHeaderSize}`;
    this.agentIdle(settings);
    // A request that ends after shutdown() emptied the pool gives its socket back to the Agent:
    // while draining, such a socket is closed rather than kept for the Agent's timeout.
    this.agent.on('free', (socket) => {
      if (this.draining) socket.destroy();
    });
    this.server = this.makeServer();
    this.files.configure(settings.allowlistFiles, settings.auth?.htpasswd);
  }

  private get log(): Logger | undefined {
    return this.ctx?.log;
  }

  private onFileEvent(e: FileEvent): void {
    this.metrics.reloads.inc({ proxy: this.settings.name, kind: e.kind, result: e.ok ? 'ok' : 'error' });
    if (!this.log) {
      this.pendingEvents.push(e);
      return;
    }
    for (const w of e.warnings) this.log.warn(w);
    if (e.ok)
      this.log.info({ proxy: this.settings.name, file: e.file, entries: e.entries }, `${e.kind} loaded`);
    else
      this.log.error(
        { proxy: this.settings.name, file: e.file, code: 'GH_ERR_EGRESS_FILE' },
        `cannot load ${e.kind} ${e.file}: ${e.error}; keeping the last good version`,
      );
  }

  private makeServer(): http.Server {
    const s = http.createServer({
      maxHeaderSize: this.settings.maxHeaderSize,
      insecureHTTPParser: false,
      requireHostHeader: false,
      headersTimeout: this.settings.headersTimeout,
      requestTimeout: 0,
      keepAliveTimeout: 60_000,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(this.settings.headersTimeout / 4))),
    });
    s.on('request', (req, res) => serveRequest(this, fromIncoming(req), res, req, noop));
    s.on(
      'connect',
      (req, socket, head) =>
        void this.contain(serveTunnel(this, 'connect', fromIncoming(req), socket, head), socket),
    );
    s.on(
      'upgrade',
      (req, socket, head) =>
        void this.contain(serveTunnel(this, 'upgrade', fromIncoming(req), socket, head), socket),
    );
    s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    // The server never listens (the runtime owns the listener); 'listening' starts the timer that
    // enforces headersTimeout on the connections it is handed.
    s.emit('listening');
    return s;
  }

  /**
   * Pooled upstream connections of the Node-parser path close after idleTimeout, as the fast
   * path's pool does (the Agent reads its `timeout` option when it pools a socket).
   */
  private agentIdle(settings: ProxySettings): void {
    (this.agent as http.Agent & { options: http.AgentOptions }).options.timeout =
      settings.idleTimeout > 0 ? settings.idleTimeout : 60_000;
  }

  /** A bug in one request must not take the daemon down: log it and drop that connection. */
  private contain(p: Promise<void>, sock: Duplex): Promise<void> {
    return p.catch((err: unknown) => failed(this, err, sock));
  }

  /** A new snapshot: new settings, files loaded as needed. Open connections carry on. */
  configure(settings: ProxySettings): void {
    this.settings = settings;
    this.agentIdle(settings);
    const key = `${settings.maxHeaderSize}`;
    if (key !== this.serverKey) {
      // maxHeaderSize is fixed per server: new connections get a new one, old ones finish on theirs.
      const old = this.server;
      this.server = this.makeServer();
      this.serverKey = key;
      old.close(() => {});
    }
    this.server.headersTimeout = settings.headersTimeout;
    this.idleSweep.reset();
    this.files.configure(settings.allowlistFiles, settings.auth?.htpasswd);
  }

  /** After the snapshot is in force: watchers, access log, pending file reports. */
  applied(ctx: FaceContext): void {
    this.ctx = ctx;
    const { total, perPrincipal } = this.settings.concurrency;
    this.concurrency.configure(shareLimit(total, ctx.workers), shareLimit(perPrincipal, ctx.workers));
    for (const e of this.pendingEvents.splice(0)) this.onFileEvent(e);
    this.files.watch(this.settings.allowlistFiles, this.settings.auth?.htpasswd);
    const logKey = this.settings.accessLog
      ? `${this.settings.accessLog.path}|${this.settings.accessLog.format}`
      : undefined;
    if (logKey !== this.accessLogKey) {
      void this.accessLog?.close();
      this.accessLog = undefined;
      this.accessLogKey = logKey;
      if (this.settings.accessLog) {
        try {
          this.accessLog = openAccessLog(
            this.settings.accessLog.path,
            this.settings.accessLog.format,
            ctx.openLines,
          );
        } catch (err) {
          ctx.log.error({ proxy: this.settings.name, err }, 'cannot open the access log');
        }
      }
    }
  }

  accept(socket: Socket, ctx: FaceContext): void {
    this.ctx ??= ctx;
    const conn = serveFast(socket, this.fast);
    this.fastConnections.add(conn);
    socket.once('close', () => this.fastConnections.delete(conn));
    this.idleSweep.wake();
  }

  /** Stop: no new requests on open connections, idle ones closed; in-flight work is a session and drains. */
  async shutdown(): Promise<void> {
    this.draining = true;
    this.files.close();
    this.server.closeIdleConnections();
    this.server.close(() => {});
    for (const c of this.fastConnections) c.closeWhenIdle();
    // Idle upstream connections go now; those carrying a response finish with it.
    for (const list of Object.values(this.agent.freeSockets)) for (const s of list ?? []) s.destroy();
    this.upstreams.close();
    await this.accessLog?.close();
    this.accessLog = undefined;
  }

  private onClientError(err: { code?: string | undefined }, socket: Duplex): void {
    const code = err.code;
    let r: WireReply | undefined;
    if (code === 'HPE_HEADER_OVERFLOW')
      r = replyForCode('GH_ERR_HEADERS_TOO_LARGE', 'GH_ERR_HEADERS_TOO_LARGE', [
        `request headers exceed ${this.settings.maxHeaderSize} bytes`,
      ]);
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
      r = replyForCode('GH_ERR_REQUEST_TIMEOUT', 'GH_ERR_REQUEST_TIMEOUT', [
        `request headers did not arrive within ${this.settings.headersTimeout} ms`,
      ]);
    else if (code !== 'ECONNRESET' && code !== 'HPE_INVALID_EOF_STATE')
      r = replyForCode('GH_ERR_PROXY_BAD_REQUEST', 'GH_ERR_PROXY_BAD_REQUEST', ['malformed HTTP request']);
    if (!r || !socket.writable) {
      socket.destroy();
      return;
    }
    this.metrics.clientErrors.inc({ proxy: this.settings.name, status: String(r.status) });
    socket.end(rawReply(r));
    record(this, 'http', {
      start: Date.now(),
      client: clientIp(socket),
      via: clientOf(socket).via,
      method: '-',
      url: '-',
      reply: r,
    });
  }
}

/** What Node's server reports when request headers do not arrive in time. */
function timeoutError(): { code: string } {
  return { code: 'ERR_HTTP_REQUEST_TIMEOUT' };
}

function noop(): void {}

// The admin listener as a service the runtime owns: started when the config enables it, moved when
// admin.listen changes on reload, stopped at shutdown. The admin API sees the runtime only through
// AdminRuntime (runtime/admin-view.ts): a narrow read view and three commands.
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminServer, type AdminServer } from './server.js';
import { resolveAdminToken } from './token.js';
import type { AuditStore } from '../audit/store.js';
import type { LoadedConfig } from '../config/load.js';
import { formatHostPort } from '../net/address.js';
import type { AdminRuntime, RuntimeService } from '../runtime/admin-view.js';

export class AdminHost implements RuntimeService {
  private server: AdminServer | undefined;
  private bound: string | undefined;
  private token = '';
  /** Why the admin API is not serving as configured (the last apply's), or undefined. */
  private failed: string | undefined;

  constructor(
    private readonly runtime: AdminRuntime,
    private readonly log: Logger,
    private readonly store: AuditStore | undefined,
  ) {}

  /** The admin listener's address, once it listens. */
  address(): { host: string; port: number } | undefined {
    const a = this.server?.http.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /**
   * Why the admin API is not serving as configured, or undefined when it is (or is disabled). At
   * start `serve` fails on it unless `admin.optional`; on a reload it is logged and the rest runs.
   */
  failure(): string | undefined {
    return this.failed;
  }

  /** The console's address once it listens ("http://127.0.0.1:9480/"). */
  url(): string | undefined {
    const a = this.address();
    if (!a) return undefined;
    const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
    return `http://${formatHostPort(host, a.port)}/`;
  }

  async apply(loaded: LoadedConfig): Promise<void> {
    const admin = loaded.config.admin;
    this.store?.setRetention(loaded.config.audit.retention);
    this.failed = undefined;
    if (!admin.enabled) {
      await this.close();
      return;
    }
    try {
      const t = resolveAdminToken(loaded);
      this.token = t.token;
      if (t.generated)
        this.log.info(
          { tokenFile: t.file },
          'admin token generated (0600); give it to `gatehouse` CLI verbs and the console',
        );
    } catch (err) {
      this.failed = `no usable token: ${(err as Error).message}`;
      this.log.error(
        { err, code: (err as { code?: string }).code },
        'admin API not started: no usable token',
      );
      await this.close();
      return;
    }
    const want = formatHostPort(admin.listen.host, admin.listen.port);
    if (this.server && this.bound === want) return;
    await this.close();
    const server = createAdminServer({
      runtime: this.runtime,
      store: this.store,
      log: this.log,
      token: () => this.token,
    });
    try {
      await server.listen(admin.listen.host, admin.listen.port);
    } catch (err) {
      // The data plane does not depend on the console: on a reload, say why and carry on without
      // it; at start, `serve` stops here unless admin.optional (failure()).
      this.failed = `cannot listen on ${want}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.log.error(
        { listen: want, code: (err as NodeJS.ErrnoException).code },
        'admin API not started: cannot listen; free the port or change admin.listen',
      );
      return;
    }
    this.server = server;
    this.bound = want;
    const a = this.address();
    this.log.info({ admin: a ? formatHostPort(a.host, a.port) : want }, 'admin API listening');
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.bound = undefined;
    await s?.close();
  }
}

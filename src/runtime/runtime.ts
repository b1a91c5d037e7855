// The one object that owns every listener, watcher and timer. A config change builds a complete
// new snapshot first, then reconciles: listeners whose bind is unchanged are kept (their sockets
// untouched; new connections see the new snapshot), removed ones stop accepting, new ones start.
import net from 'node:net';
import type { Logger } from 'pino';
import { Audit } from '../audit/events.js';
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import type { FaceContext } from '../faces/context.js';
import { handlePortForward } from '../faces/port-forward.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { SessionRegistry } from '../pipeline/sessions.js';
import { planPortForwards, type ForwardPlanEntry } from '../policy/forward-plan.js';
import { compileSecurityPolicy, type SecurityPolicy } from '../policy/security-groups.js';

/** How a listener's connections are handled under one snapshot. */
type Route = { face: 'portForward'; entry: ForwardPlanEntry };

interface Snapshot {
  readonly loaded: LoadedConfig;
  readonly policy: SecurityPolicy;
  /** By bind key ("0.0.0.0:6380"): what a connection on that listener does now. */
  readonly routes: ReadonlyMap<string, Route>;
}

interface ManagedListener {
  readonly bindKey: string;
  readonly bind: HostPort;
  readonly server: net.Server;
}

export interface ApplyReport {
  readonly started: string[];
  readonly stopped: string[];
  readonly kept: string[];
  readonly failed: { bind: string; error: string }[];
}

function bindKey(b: HostPort): string {
  return formatHostPort(b.host, b.port);
}

function buildSnapshot(loaded: LoadedConfig): Snapshot {
  const policy = compileSecurityPolicy(loaded.config, loaded.source);
  const routes = new Map<string, Route>();
  for (const entry of planPortForwards(loaded.config, loaded.source)) {
    routes.set(bindKey(entry.bind), { face: 'portForward', entry });
  }
  return { loaded, policy, routes };
}

export class Runtime {
  readonly sessions = new SessionRegistry();
  readonly audit = new Audit();
  private snapshot: Snapshot | undefined;
  private readonly listeners = new Map<string, ManagedListener>();
  private shuttingDown = false;

  constructor(private readonly log: Logger) {}

  get config(): LoadedConfig | undefined {
    return this.snapshot?.loaded;
  }

  /** Bound addresses, for tests and the admin API (ports resolved when 0 was asked). */
  listening(): { bind: string; port: number }[] {
    return [...this.listeners.values()].map((l) => ({
      bind: l.bindKey,
      port: (l.server.address() as net.AddressInfo).port,
    }));
  }

  private context(snapshot: Snapshot): FaceContext {
    const clusters = snapshot.loaded.config.clusters;
    return {
      policy: snapshot.policy,
      audit: this.audit,
      sessions: this.sessions,
      // Static node lists until live topology lands: position N is the Nth configured node.
      clusterNode: (cluster, slot) => clusters[cluster]?.nodes[slot],
    };
  }

  private onConnection(key: string, socket: net.Socket): void {
    const snapshot = this.snapshot;
    const route = snapshot?.routes.get(key);
    if (!snapshot || !route || this.shuttingDown) {
      socket.destroy();
      return;
    }
    handlePortForward(socket, route.entry, this.context(snapshot));
  }

  private listen(bind: HostPort, key: string): Promise<ManagedListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false });
      server.on('connection', (socket) => this.onConnection(key, socket));
      server.once('error', (err) => reject(new GatehouseError('GH_ERR_LISTEN', [key], { cause: err })));
      server.listen({ host: bind.host, port: bind.port, backlog: 1024 }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error({ err, listener: key }, 'listener error'));
        resolve({ bindKey: key, bind, server });
      });
    });
  }

  /**
   * Make `loaded` the running config. The snapshot is built before anything changes; listeners
   * are then reconciled. A listener that cannot bind is reported and the rest still apply.
   */
  async apply(loaded: LoadedConfig): Promise<ApplyReport> {
    const next = buildSnapshot(loaded);
    const report: ApplyReport = { started: [], stopped: [], kept: [], failed: [] };
    const wanted = new Map<string, HostPort>();
    for (const [key, route] of next.routes) wanted.set(key, route.entry.bind);

    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      // Stop accepting; sessions already relayed on this listener carry on until they end.
      l.server.close();
      this.listeners.delete(key);
      report.stopped.push(key);
    }
    this.snapshot = next;
    for (const [key, bind] of wanted) {
      if (this.listeners.has(key)) {
        report.kept.push(key);
        continue;
      }
      try {
        this.listeners.set(key, await this.listen(bind, key));
        report.started.push(key);
      } catch (err) {
        const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
        report.failed.push({ bind: key, error: cause?.code ?? String(err) });
      }
    }
    return report;
  }

  /** Stop accepting, let sessions finish for up to graceMs, then close what remains. Idempotent. */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.sessions.closeWhere(() => true, 'shutdown');
    // Closed sessions report through the audit trail on their next tick; give them that tick.
    await new Promise((r) => setImmediate(r));
    await this.audit.close();
  }
}

// The one object per process that owns every listener, watcher and timer of the faces. A config
// change builds a complete new snapshot first (prepare), then reconciles (commit): listeners whose
// bind is unchanged are kept (their sockets untouched; new connections see the new snapshot),
// removed ones stop accepting, new ones start. What must be one per host (audit writer, cluster
// discovery and port maps, the kernel data path) is reached through SharedState: the Host in one
// process, a replica of the primary's in a worker.
import { hkdfSync } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Audit } from '../audit/events.js';
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import type { FaceContext } from '../faces/context.js';
import { makeSnapshot, type Face, type FacePlan, type ListenerRoute, type Snapshot } from '../faces/face.js';
import { createPortForwardFace } from '../faces/port-forward/port-forward-face.js';
import { createAccessEndpointFace } from '../faces/access/access-face.js';
import { createEgressProxyFace } from '../faces/egress/egress-face.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import type { SessionInfo, SessionRegistry } from '../pipeline/session-registry.js';
import type { ReloadOutcome, RuntimeInspection, RuntimeService } from './admin-view.js';
import { Host } from './host.js';
import { IdleTimers } from '../pipeline/idle-watch.js';
import { readProxyHeader } from '../pipeline/proxy-header.js';
import { ListenerGate, setGate } from '../pipeline/limits.js';
import { acceptLimitsOf } from '../faces/limits.js';
import { RuntimeMetrics } from './runtime-metrics.js';
import { sessionMetrics } from './session-metrics.js';
import { DescriptorPause, isExhaustion } from './descriptor-pause.js';
import type { LogReopenReport } from '../audit/log-files.js';
import type { SharedState } from './shared-state.js';

interface RoutedSnapshot extends Snapshot {
  /** By bind key ("0.0.0.0:6380"): what a connection on that listener does now. */
  readonly routes: ReadonlyMap<string, ListenerRoute>;
  /** Each face's plan under this snapshot, in the order of `faces`. */
  readonly plans: readonly FacePlan[];
  readonly context: FaceContext;
}

interface ManagedListener {
  readonly bindKey: string;
  readonly bind: HostPort;
  server: net.Server;
  /** The bound port (read once: a paused listener has no address). */
  readonly port: number;
  /** Closed while descriptors are exhausted (descriptor-pause.ts), to listen again after. */
  paused: boolean;
}

/** The gates of the listeners by bind key: kept with the bind across reloads (their counts with them). */
type Gates = Map<string, ListenerGate>;

export interface ApplyReport {
  readonly started: string[];
  readonly stopped: string[];
  readonly kept: string[];
  readonly failed: { bind: string; error: string }[];
}

/** How long a new connection may take to become a session (header, handshake, dial) at shutdown. */
const SETTLE_MS = 1000;

function bindKey(b: HostPort): string {
  return formatHostPort(b.host, b.port);
}

/** A snapshot built and checked, not yet in force (the first phase of a reload). */
export interface PreparedSnapshot {
  readonly snapshot: RoutedSnapshot;
}

/** How listeners bind: alone, or with SO_REUSEPORT beside the other workers' sockets. */
export interface ListenOptions {
  readonly reusePort?: boolean;
  /** How many worker processes share the listeners (each enforces its share of a limit); 1 alone. */
  readonly workers?: number;
}

export class Runtime {
  readonly sessions: SessionRegistry;
  readonly audit: Audit;
  /** Every face this runtime serves; each is an arrangement of the shared pipeline steps. */
  private readonly faces: readonly Face[] = [
    createPortForwardFace(),
    createAccessEndpointFace(),
    createEgressProxyFace(),
  ];
  private snapshot: RoutedSnapshot | undefined;
  private readonly listeners = new Map<string, ManagedListener>();
  private readonly gates: Gates = new Map();
  private shuttingDown = false;
  /** Services owned beside the face listeners (the admin listener): applied after each config, closed at shutdown. */
  private readonly services: RuntimeService[] = [];
  private reloader: ((trigger: string) => Promise<ReloadOutcome>) | undefined;
  readonly startedAt = new Date();
  /** What happens before a face sees a connection: PROXY refusals, descriptor pauses. */
  readonly metrics = new RuntimeMetrics();
  /** Open accepted connections and when they came: shutdown lets those still being set up finish. */
  private readonly acceptedAt = new Map<net.Socket, number>();
  /** The coarse idle timers every relay and sweep of this runtime shares. */
  readonly timers = new IdleTimers();
  /** Stops accepting at the descriptor limit and starts again once sessions end. */
  readonly descriptors: DescriptorPause;

  constructor(
    private readonly log: Logger,
    private readonly shared: SharedState = new Host(log),
    private readonly listenOptions: ListenOptions = {},
  ) {
    this.sessions = shared.sessions;
    this.audit = shared.audit;
    shared.metrics.register(this.metrics.registry);
    // Every face's sessions of this process (with workers: of this worker, summed by the primary).
    shared.metrics.register(sessionMetrics(this.sessions));
    this.descriptors = new DescriptorPause(
      log,
      () => {
        for (const l of this.listeners.values()) {
          l.paused = true;
          l.server.close();
        }
      },
      () => this.listenAgain(),
    );
    this.descriptors.onPause = () => this.metrics.descriptorPauses++;
  }

  /** After a descriptor pause: listen again on every paused bind; false while that still fails. */
  private async listenAgain(): Promise<boolean> {
    for (const [key, l] of this.listeners) {
      if (!l.paused) continue;
      try {
        const next = await this.listen(l.bind, key);
        l.server = next.server;
        l.paused = false;
      } catch {
        return false;
      }
    }
    return true;
  }

  get config(): LoadedConfig | undefined {
    return this.snapshot?.loaded;
  }

  /** Bound addresses, for tests and the admin API (ports resolved when 0 was asked). */
  listening(): { bind: string; port: number }[] {
    return [...this.listeners.values()].map((l) => ({
      bind: l.bindKey,
      port: l.port,
    }));
  }

  addService(service: RuntimeService): void {
    this.services.push(service);
  }

  /** The reload path (the same one SIGHUP takes); provided by whoever loads config files. */
  setReloader(reload: (trigger: string) => Promise<ReloadOutcome>): void {
    this.reloader = reload;
  }

  reopenLogs(): Promise<LogReopenReport> {
    return this.shared.reopenLogs();
  }

  reload(trigger: string): Promise<ReloadOutcome> {
    if (!this.reloader)
      return Promise.resolve({ ok: false, trigger, error: { message: 'no config file to reload' } });
    return this.reloader(trigger);
  }

  /** The Prometheus text of every metric of this process and its host. */
  scrape(): Promise<string> {
    return this.shared.metrics.scrape();
  }

  /** Close one live session on an operator's request; false when there is no such session. */
  terminate(id: string): Promise<boolean> {
    return Promise.resolve(this.sessions.terminate(id, 'terminated'));
  }

  listSessions(): Promise<SessionInfo[]> {
    return Promise.resolve(this.sessions.list());
  }

  /** The narrow read view the admin API serves: status, listeners and the running config. */
  inspect(): RuntimeInspection {
    return {
      startedAt: this.startedAt,
      loaded: this.snapshot?.loaded,
      listeners: this.listening(),
    };
  }

  private buildSnapshot(loaded: LoadedConfig): RoutedSnapshot {
    const base = makeSnapshot(loaded);
    const routes = new Map<string, ListenerRoute>();
    const plans = this.faces.map((face) => face.plan(base));
    for (const plan of plans) for (const route of plan.routes) routes.set(bindKey(route.bind), route);
    const { clusters, nodePorts } = this.shared;
    const context: FaceContext = {
      policy: base.policy,
      audit: this.audit,
      sessions: this.sessions,
      log: this.log,
      timers: this.timers,
      clusters,
      nodePorts,
      clusterNode: (cluster, index) => clusters.node(cluster, index),
      openLines: (file, label) => this.shared.openLines(file, label),
      metrics: this.shared.metrics,
      workers: this.listenOptions.workers ?? 1,
      ticketKeys: (scope) => Buffer.from(hkdfSync('sha256', this.shared.ticketSecret, '', scope, 48)),
    };
    return { ...base, routes, plans, context };
  }

  private onConnection(key: string, socket: net.Socket): void {
    const snapshot = this.snapshot;
    const route = snapshot?.routes.get(key);
    if (!snapshot || !route || this.shuttingDown) {
      socket.destroy();
      return;
    }
    this.descriptors.accepted(socket);
    const gate = this.gates.get(key);
    if (gate) setGate(socket, gate);
    this.acceptedAt.set(socket, performance.now());
    socket.once('close', () => this.acceptedAt.delete(socket));
    const proxy = route.proxy;
    if (!proxy) {
      route.handle(socket, snapshot.context);
      return;
    }
    // A PROXY listener: the header first, then the face (with the client's address beside the socket).
    void readProxyHeader(socket, proxy, (reason, detail, peer) => {
      this.metrics.proxyRefused(proxy.face, proxy.listener, reason);
      this.log.warn(
        { listener: proxy.listener, peer, reason, detail },
        'PROXY header refused; connection closed',
      );
      snapshot.context.audit.emit({
        event: 'denied',
        face: proxy.face,
        listener: proxy.listener,
        source: peer,
        allowed: false,
        reason,
        error: detail,
      });
    }).then((ok) => {
      if (ok && !this.shuttingDown) route.handle(socket, snapshot.context);
      else if (ok) socket.destroy();
    });
  }

  private listen(bind: HostPort, key: string): Promise<ManagedListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false });
      server.on('connection', (socket) => this.onConnection(key, socket));
      server.once('error', (err) => reject(new GatehouseError('GH_ERR_LISTEN', [key], { cause: err })));
      const reusePort = this.listenOptions.reusePort ? { reusePort: true } : {};
      server.listen({ host: bind.host, port: bind.port, backlog: 1024, ...reusePort }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => {
          if (isExhaustion(err)) this.descriptors.pause('accept met EMFILE');
          else this.log.error({ err, listener: key }, 'listener error');
        });
        resolve({
          bindKey: key,
          bind,
          server,
          port: (server.address() as net.AddressInfo).port,
          paused: false,
        });
      });
    });
  }

  /**
   * Make `loaded` the running config. The snapshot is built before anything changes; listeners
   * are then reconciled. A listener that cannot bind is reported and the rest still apply.
   */
  async apply(loaded: LoadedConfig): Promise<ApplyReport> {
    return this.commit(this.prepare(loaded));
  }

  /** Build the snapshot of `loaded` (every face's plan) without changing anything; throws when it cannot. */
  prepare(loaded: LoadedConfig): PreparedSnapshot {
    return { snapshot: this.buildSnapshot(loaded) };
  }

  /** Make a prepared snapshot the running one. */
  async commit(prepared: PreparedSnapshot): Promise<ApplyReport> {
    const next = prepared.snapshot;
    const loaded = next.loaded;
    const report: ApplyReport = { started: [], stopped: [], kept: [], failed: [] };
    const wanted = new Map<string, HostPort>();
    for (const [key, route] of next.routes) wanted.set(key, route.bind);

    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      // Stop accepting; sessions already relayed on this listener carry on until they end.
      if (!l.paused) l.server.close();
      this.listeners.delete(key);
      report.stopped.push(key);
    }
    for (const key of this.gates.keys()) if (!wanted.has(key)) this.gates.delete(key);
    for (const [key, route] of next.routes) {
      if (!route.limits) continue;
      let gate = this.gates.get(key);
      if (!gate) this.gates.set(key, (gate = new ListenerGate()));
      gate.configure(acceptLimitsOf(loaded, route.limits, this.listenOptions.workers ?? 1));
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
    await this.shared.apply(next);
    for (const [i, face] of this.faces.entries()) await face.applied?.(next.plans[i]!, next, next.context);
    for (const service of this.services) await service.apply(loaded);
    return report;
  }

  /** Until no open connection is younger than SETTLE_MS (or the deadline). */
  private async settle(deadline: number): Promise<void> {
    for (;;) {
      const now = performance.now();
      let youngest = -Infinity;
      for (const at of this.acceptedAt.values()) if (at > youngest) youngest = at;
      const wait = Math.min(youngest + SETTLE_MS - now, deadline - now);
      if (wait <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 50)));
    }
  }

  /** Stop accepting, let sessions finish for up to graceMs, then close what remains. Idempotent. */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.descriptors.close();
    for (const l of this.listeners.values()) if (!l.paused) l.server.close();
    this.listeners.clear();
    for (const service of this.services) await service.close();
    for (const face of this.faces) await face.shutdown?.();
    await this.shared.stop();
    // A connection accepted just before the stop may still be reading its PROXY header, shaking
    // hands or dialing, and is not a session yet: give such connections the time to become one
    // (or fail), then wait for sessions.
    const deadline = performance.now() + graceMs;
    await this.settle(deadline);
    await this.sessions.whenEmpty(Math.max(0, deadline - performance.now()));
    this.sessions.closeWhere(() => true, 'shutdown');
    // A closed session leaves the registry, and writes its audit line, once both of its sockets
    // have closed: wait for that (briefly) so no `closed` line is lost with the audit sinks.
    await this.sessions.whenEmpty(2000);
    this.timers.stop();
    await this.shared.close();
  }
}

// The primary of several workers. It relays nothing itself: it validates each config once and has
// every worker apply it in two phases (prepare everywhere, then commit everywhere, or abort
// everywhere and say which worker refused), owns what must be one per host (the Host: audit
// writers, cluster discovery and port maps, the kernel data path; the admin listener), answers the
// admin API for all workers (sessions of every worker, terminate where the session lives), replaces
// a worker that dies (with backoff, logged and counted), and on SIGTERM drains them all.
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { LineWriter } from '../audit/line-writer.js';
import type { LogReopenReport } from '../audit/log-files.js';
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import { makeSnapshot } from '../faces/face.js';
import type { SessionInfo } from '../pipeline/session-registry.js';
import type {
  AdminRuntime,
  ListedSession,
  ReloadOutcome,
  RuntimeInspection,
  RuntimeService,
} from '../runtime/admin-view.js';
import type { Host } from '../runtime/host.js';
import type { ApplyReport } from '../runtime/runtime.js';
import { Pending } from './ipc.js';
import type { ListenMode } from './listen-mode.js';
import {
  isOurs,
  type ConfigText,
  type FromWorker,
  type HostState,
  type PrimaryRequest,
  type ToWorker,
  type WorkerRequest,
} from './messages.js';

/** How long a worker may take to prepare or commit a config before it counts as refusing. */
const APPLY_TIMEOUT_MS = 30_000;
/** How long the admin waits for a worker's session list. */
const ASK_TIMEOUT_MS = 2_000;
/** Restart backoff: doubles per quick death, from the first to the last. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** A worker that lived this long before dying starts the backoff over. */
const STABLE_MS = 30_000;

interface Slot {
  readonly index: number;
  readonly name: string;
  worker: Worker | undefined;
  idPrefix: string | undefined;
  /** Set once the worker runs the current config. */
  running: boolean;
  startedAt: number;
  quickDeaths: number;
  restartTimer: NodeJS.Timeout | undefined;
  readonly pending: Pending;
  /** Waiters for a message from this worker (ready, prepared, committed); `undefined` when it dies. */
  readonly waiters: { match: (m: FromWorker) => boolean; done: (m: FromWorker | undefined) => void }[];
  /** This worker's sessions per cluster line|port (what keeps a removed node's port held). */
  portSessions: ReadonlyMap<string, number>;
  listening: { bind: string; port: number }[];
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly listenMode: ListenMode;
}

function workerEntry(): string {
  // worker-main.js beside this file (worker-main.ts under tsx).
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `worker-main${path.extname(here)}`);
}

function configText(loaded: LoadedConfig): ConfigText {
  return { file: loaded.source.file, baseDir: loaded.baseDir, text: loaded.text };
}

export class Primary implements AdminRuntime {
  readonly startedAt = new Date();
  private readonly slots: Slot[] = [];
  private current: { gen: number; loaded: LoadedConfig } | undefined;
  private gen = 0;
  /** Applies (a reload, a new worker's first config) run one at a time. */
  private serial: Promise<unknown> = Promise.resolve();
  private shuttingDown = false;
  private readonly services: RuntimeService[] = [];
  private reloader: ((trigger: string) => Promise<ReloadOutcome>) | undefined;
  private readonly lineWriters = new Map<string, LineWriter>();
  /** Asks every worker for its registries and sums them (prom-client's cluster aggregation). */
  private readonly aggregator = new AggregatorRegistry();
  /** Workers started again after dying. */
  restarts = 0;

  constructor(
    private readonly log: Logger,
    private readonly host: Host,
    private readonly opts: PrimaryOptions,
  ) {
    host.nodePorts.countSessionsElsewhere((key) => {
      let n = 0;
      for (const s of this.slots) n += s.portSessions.get(key) ?? 0;
      return n;
    });
    host.clusters.onChange((name, topology) => this.broadcast({ t: 'topology', cluster: name, topology }));
    host.onPortsChanged(() => this.broadcast({ t: 'ports', ports: host.nodePorts.assignments() }));
  }

  addService(service: RuntimeService): void {
    this.services.push(service);
  }

  setReloader(reload: (trigger: string) => Promise<ReloadOutcome>): void {
    this.reloader = reload;
  }

  reload(trigger: string): Promise<ReloadOutcome> {
    if (!this.reloader)
      return Promise.resolve({ ok: false, trigger, error: { message: 'no config file to reload' } });
    return this.reloader(trigger);
  }

  /** Start the host-wide state and every worker on `loaded`; resolves once all run it. */
  async start(loaded: LoadedConfig): Promise<ApplyReport> {
    cluster.setupPrimary({ exec: workerEntry(), args: [], serialization: 'advanced' });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    this.log.info(
      { workers: this.opts.workers, listen: this.opts.listenMode.name },
      `starting ${this.opts.workers} workers: ${this.opts.listenMode.description}`,
    );
    const snapshot = makeSnapshot(loaded);
    await this.host.apply(snapshot);
    this.current = { gen: ++this.gen, loaded };
    for (let i = 1; i <= this.opts.workers; i++) {
      this.slots.push({
        index: i,
        name: `w${i}`,
        worker: undefined,
        idPrefix: undefined,
        running: false,
        startedAt: 0,
        quickDeaths: 0,
        restartTimer: undefined,
        pending: new Pending(),
        waiters: [],
        portSessions: new Map(),
        listening: [],
      });
    }
    const reports = await Promise.all(this.slots.map((s) => this.fork(s)));
    for (const service of this.services) await service.apply(loaded);
    return mergeReports(reports.filter((r): r is ApplyReport => r !== undefined));
  }

  /** Bound addresses, as the first running worker reports them. */
  listening(): { bind: string; port: number }[] {
    return this.slots.find((s) => s.running)?.listening ?? [];
  }

  inspect(): RuntimeInspection {
    return { startedAt: this.startedAt, loaded: this.current?.loaded, listeners: this.listening() };
  }

  async listSessions(): Promise<ListedSession[]> {
    const out: ListedSession[] = this.host.sessions.list().map((s) => ({ ...s, worker: 'primary' }));
    const lists = await Promise.all(
      this.slots.map(async (s) => {
        const list = (await this.ask(s, { op: 'sessions' })) as SessionInfo[] | undefined;
        return (list ?? []).map((x) => ({ ...x, worker: s.name }));
      }),
    );
    for (const l of lists) out.push(...l);
    return out;
  }

  /** The primary writes every log file of every worker: reopening here reopens them all. */
  reopenLogs(): Promise<LogReopenReport> {
    return this.host.reopenLogs();
  }

  async terminate(id: string): Promise<boolean> {
    if (this.host.sessions.terminate(id, 'terminated')) return true;
    const slot = this.slots.find((s) => s.idPrefix !== undefined && id.startsWith(s.idPrefix));
    if (!slot) return false;
    return (await this.ask(slot, { op: 'terminate', session: id })) === true;
  }

  /**
   * Make `loaded` the running config in every worker: all prepare it, then all commit it; if one
   * refuses, none commits (the last good config stays everywhere) and the error names it.
   */
  apply(loaded: LoadedConfig): Promise<ApplyReport> {
    const run = this.serial.then(() => this.applyNow(loaded));
    this.serial = run.catch(() => {});
    return run;
  }

  private async applyNow(loaded: LoadedConfig): Promise<ApplyReport> {
    const gen = ++this.gen;
    const config = configText(loaded);
    const live = this.slots.filter((s) => s.running && s.worker);
    const answers = await Promise.all(
      live.map(async (s) => ({ slot: s, answer: await this.prepare(s, gen, config) })),
    );
    const refused = answers.find((a) => a.answer !== true);
    if (refused) {
      for (const s of live) this.send(s, { t: 'abort', gen });
      const a = refused.answer;
      const reason = a === true ? '' : (a?.message ?? 'no answer');
      throw new GatehouseError('GH_ERR_WORKER_REFUSED', [refused.slot.name, reason], {
        details: a === true ? [] : [...(a?.problems ?? [])],
      });
    }
    await this.host.apply(makeSnapshot(loaded));
    this.current = { gen, loaded };
    const host = this.hostState();
    const reports = await Promise.all(live.map((s) => this.commit(s, gen, host)));
    for (const service of this.services) await service.apply(loaded);
    return mergeReports(reports.filter((r): r is ApplyReport => r !== undefined));
  }

  private hostState(): HostState {
    return {
      ticketSecret: this.host.ticketSecret,
      topologies: this.host.clusters.topologies(),
      ports: this.host.nodePorts.assignments(),
    };
  }

  /** Start the worker of a slot and give it the running config; resolves with its first report. */
  private fork(slot: Slot): Promise<ApplyReport | undefined> {
    slot.restartTimer = undefined;
    slot.running = false;
    slot.idPrefix = undefined;
    slot.portSessions = new Map();
    slot.startedAt = Date.now();
    // The worker count, for each worker's share of the listeners' limits.
    const worker = cluster.fork({
      GATEHOUSE_WORKER_SLOT: String(slot.index),
      GATEHOUSE_WORKERS: String(this.slots.length),
    });
    slot.worker = worker;
    worker.on('message', (m: unknown) => {
      if (isOurs(m)) this.onMessage(slot, m as FromWorker);
    });
    worker.on('error', (err) => this.log.warn({ worker: slot.name, err }, 'worker channel error'));
    const ready = this.waitFor(slot, (m) => m.t === 'ready', APPLY_TIMEOUT_MS);
    const first = ready.then((m) => {
      if (!m) return undefined;
      const run = this.serial.then(() => this.bringUp(slot, worker));
      this.serial = run.catch(() => {});
      return run;
    });
    return first;
  }

  /** A new worker's first config: the running one, in the same two phases as a reload. */
  private async bringUp(slot: Slot, worker: Worker): Promise<ApplyReport | undefined> {
    const current = this.current;
    if (!current || slot.worker !== worker || this.shuttingDown) return undefined;
    const answer = await this.prepare(slot, current.gen, configText(current.loaded));
    if (answer !== true) {
      this.log.error(
        { worker: slot.name, error: answer?.message, problems: answer?.problems },
        'worker refused the running config; stopping it (it is started again with backoff)',
      );
      worker.kill();
      return undefined;
    }
    const report = await this.commit(slot, current.gen, this.hostState());
    if (report && slot.worker === worker) {
      slot.running = true;
      this.log.info({ worker: slot.name, workerPid: worker.process.pid }, 'worker running');
    }
    return report;
  }

  private async prepare(
    slot: Slot,
    gen: number,
    config: ConfigText,
  ): Promise<true | { message: string; problems?: readonly string[] } | undefined> {
    const answer = this.waitFor(slot, (m) => m.t === 'prepared' && m.gen === gen, APPLY_TIMEOUT_MS);
    this.send(slot, { t: 'prepare', gen, config });
    const m = await answer;
    if (!m || m.t !== 'prepared') return undefined;
    return m.error ? m.error : true;
  }

  private async commit(slot: Slot, gen: number, host: HostState): Promise<ApplyReport | undefined> {
    const answer = this.waitFor(slot, (m) => m.t === 'committed' && m.gen === gen, APPLY_TIMEOUT_MS);
    this.send(slot, { t: 'commit', gen, host });
    const m = await answer;
    if (!m || m.t !== 'committed') return undefined;
    slot.listening = m.listening;
    return m.report;
  }

  private waitFor(
    slot: Slot,
    match: (m: FromWorker) => boolean,
    timeoutMs: number,
  ): Promise<FromWorker | undefined> {
    return new Promise((resolve) => {
      const waiter = {
        match,
        done: (m: FromWorker | undefined) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const i = slot.waiters.indexOf(waiter);
        if (i >= 0) slot.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      slot.waiters.push(waiter);
    });
  }

  private async ask(slot: Slot, req: WorkerRequest): Promise<unknown> {
    if (!slot.worker || !slot.running) return undefined;
    const { id, reply } = slot.pending.open(ASK_TIMEOUT_MS);
    this.send(slot, { t: 'request', id, req });
    return reply;
  }

  private send(slot: Slot, m: ToWorker): void {
    const w = slot.worker;
    if (!w || !w.isConnected()) return;
    w.send(m, undefined, (err: Error | null) => {
      if (err) this.log.debug({ worker: slot.name, err: err.message }, 'send to worker failed');
    });
  }

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) if (s.running) this.send(s, m);
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'audit':
        for (const e of m.events) this.host.audit.record(e);
        break;
      case 'lines':
        this.lines(m.file).write(m.text);
        break;
      case 'refresh':
        this.host.clusters.refreshSoon(m.cluster);
        break;
      case 'portSessions':
        slot.portSessions = new Map(m.counts);
        break;
      case 'reply':
        slot.pending.settle(m.id, m.value);
        break;
      case 'request':
        void this.answer(slot, m.id, m.req);
        break;
      case 'ready':
        slot.idPrefix = m.idPrefix;
        break;
      default:
        break;
    }
    const i = slot.waiters.findIndex((w) => w.match(m));
    if (i >= 0) slot.waiters.splice(i, 1)[0]!.done(m);
  }

  /** Every worker's registries summed, and the primary's own (fleet, restarts) beside them. */
  async scrape(): Promise<string> {
    return `${await this.aggregator.clusterMetrics()}\n${await this.host.metrics.scrape()}`;
  }

  /** A worker asks for what only the primary knows: today, the metrics of every worker summed. */
  private async answer(slot: Slot, id: number, req: PrimaryRequest): Promise<void> {
    let value: unknown;
    try {
      if (req.op === 'metrics') value = await this.scrape();
    } catch (err) {
      this.log.warn({ err, worker: slot.name }, 'metrics: a worker did not answer');
    }
    this.send(slot, { t: 'reply', id, value });
  }

  /** The one writer of an access-log file, shared by every worker's lines. */
  private lines(file: string): LineWriter {
    let w = this.lineWriters.get(file);
    if (!w) {
      w = this.host.logFiles.writer(file, `access log ${file}`);
      this.lineWriters.set(file, w);
    }
    return w;
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.find((s) => s.worker === worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.running = false;
    slot.pending.dropAll();
    for (const w of slot.waiters.splice(0)) w.done(undefined);
    if (this.shuttingDown) return;
    const lived = Date.now() - slot.startedAt;
    slot.quickDeaths = lived >= STABLE_MS ? 0 : slot.quickDeaths + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, slot.quickDeaths - 1));
    this.restarts++;
    this.log.error(
      {
        worker: slot.name,
        workerPid: worker.process.pid,
        code,
        signal,
        restartInMs: delay,
        restarts: this.restarts,
      },
      'worker died; starting another in its place',
    );
    slot.restartTimer = setTimeout(() => void this.fork(slot), delay);
  }

  /** SIGTERM: every worker stops accepting and drains for up to graceMs; then the host stops. */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    for (const service of this.services) await service.close();
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        const exited = new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
        });
        this.send(s, { t: 'shutdown', grace: graceMs });
        // A worker that does not finish in time (its drain is bounded by graceMs) is killed.
        const deadline = setTimeout(() => w.process.kill('SIGKILL'), graceMs + 10_000);
        await exited;
        clearTimeout(deadline);
      }),
    );
    await this.host.stop();
    await this.host.sessions.whenEmpty(graceMs);
    this.host.sessions.closeWhere(() => true, 'shutdown');
    await this.host.sessions.whenEmpty(2000);
    await Promise.all([...this.lineWriters.values()].map((w) => w.close()));
    await this.host.close();
  }
}

/** One report for the whole: what the workers started, stopped and kept, and every failure once. */
function mergeReports(reports: readonly ApplyReport[]): ApplyReport {
  const first = reports[0];
  const failed = new Map<string, { bind: string; error: string }>();
  for (const r of reports) for (const f of r.failed) failed.set(f.bind, f);
  return {
    started: first?.started ?? [],
    stopped: first?.stopped ?? [],
    kept: first?.kept ?? [],
    failed: [...failed.values()],
  };
}

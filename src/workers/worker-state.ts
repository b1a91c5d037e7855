// A worker's view of the host-wide state, kept by the primary (the SharedState of a worker):
//   - audit events go to the primary, the one writer of the JSON lines and the SQLite store;
//     they leave at the end of the event-loop turn that made them, so a worker that dies loses
//     nothing it had finished, and nothing is sent twice;
//   - access-log lines go the same way, so lines of two workers never interleave mid-line;
//   - cluster topologies and the node ⇄ port maps are replicas of the primary's, which alone
//     discovers and assigns (the same node has the same public port in every worker);
//   - this worker's sessions per cluster port are reported (coalesced), so the primary holds a
//     removed node's port while any worker still has sessions on it.
import { randomBytes } from 'node:crypto';
import { Audit, type AuditEvent, type AuditSink } from '../audit/events.js';
import type { LineWriter } from '../audit/line-writer.js';
import type { LogReopenReport } from '../audit/log-files.js';
import { NodePortTable, type LineAssignment, type NodePortMap } from '../cluster/node-ports.js';
import { nthNode, type Topologies } from '../cluster/registry.js';
import type { ClusterNode, Topology } from '../cluster/topology.js';
import { SessionRegistry } from '../pipeline/session-registry.js';
import type { SharedState } from '../runtime/shared-state.js';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { MetricsHub } from '../faces/metrics-hub.js';
import type { FromWorker, HostState, PrimaryRequest } from './messages.js';

/** Sends one message to the primary; resolves once it is written to the channel. */
export type SendToPrimary = (m: FromWorker) => Promise<void>;
/** Asks the primary; resolves with its reply, or undefined when none comes in time. */
export type AskPrimary = (req: PrimaryRequest) => Promise<unknown>;

/**
 * The worker's registries answer the primary's AggregatorRegistry (prom-client listens for its
 * requests once an AggregatorRegistry exists in the process: made at start, so a worker never
 * leaves a scrape waiting); a scrape that reaches this worker asks the primary for the sum.
 */
class WorkerMetrics implements MetricsHub {
  private readonly registries = new Set<Registry>();
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  constructor(private readonly ask: AskPrimary) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([]);
  }

  register(registry: Registry): void {
    if (this.registries.has(registry)) return;
    this.registries.add(registry);
    AggregatorRegistry.setRegistries([...this.registries]);
  }

  async scrape(): Promise<string> {
    const text = await this.ask({ op: 'metrics' });
    if (typeof text !== 'string') throw new Error('the primary did not answer with metrics');
    return text;
  }
}

/** Events gathered during one event-loop turn and sent as one message at its end. */
class ForwardingAuditSink implements AuditSink {
  private batch: AuditEvent[] = [];
  private scheduled = false;
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly send: SendToPrimary) {}

  write(event: AuditEvent): void {
    this.batch.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const events = this.batch;
    this.batch = [];
    this.last = this.send({ t: 'audit', events });
  }

  async close(): Promise<void> {
    this.flush();
    await this.last;
  }
}

/** Access-log lines of one file, sent to the primary once per event-loop turn. */
class ForwardingLines implements LineWriter {
  private text = '';
  private scheduled = false;
  private last: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly send: SendToPrimary,
  ) {}

  write(line: string): void {
    if (this.closed) return;
    this.text = this.text === '' ? line : `${this.text}\n${line}`;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.text === '') return;
    const text = this.text;
    this.text = '';
    this.last = this.send({ t: 'lines', file: this.file, text });
  }

  /** The primary holds the file and reopens it; a worker has nothing to reopen. */
  reopen(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    await this.last;
  }
}

/** The primary's topologies, as last sent. */
class TopologyReplica implements Topologies {
  private readonly topologies = new Map<string, Topology>();
  private readonly listeners = new Set<(cluster: string, t: Topology) => void>();
  private readonly asked = new Map<string, number>();

  constructor(private readonly send: SendToPrimary) {}

  set(cluster: string, topology: Topology): void {
    this.topologies.set(cluster, topology);
    for (const l of this.listeners) l(cluster, topology);
  }

  replace(all: HostState['topologies']): void {
    const names = new Set(all.map(([n]) => n));
    for (const name of [...this.topologies.keys()]) if (!names.has(name)) this.topologies.delete(name);
    for (const [name, t] of all) this.set(name, t);
  }

  topology(name: string): Topology | undefined {
    return this.topologies.get(name);
  }

  node(name: string, index: number): ClusterNode | undefined {
    return nthNode(this.topologies.get(name), index);
  }

  /** The primary debounces too; this keeps a MOVED storm from becoming a message storm. */
  refreshSoon(name: string): void {
    const now = Date.now();
    if (now - (this.asked.get(name) ?? 0) < 250) return;
    this.asked.set(name, now);
    void this.send({ t: 'refresh', cluster: name });
  }

  onChange(listener: (cluster: string, t: Topology) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Port maps as the primary assigned them; this worker's session counts go back, coalesced. */
class NodePortReplica extends NodePortTable implements NodePortMap {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: SendToPrimary) {
    super();
  }

  override sessionStarted(line: string, port: number): void {
    super.sessionStarted(line, port);
    this.report();
  }

  override sessionEnded(line: string, port: number): void {
    super.sessionEnded(line, port);
    this.report();
  }

  private report(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.send({ t: 'portSessions', counts: [...this.sessionCounts()] });
    }, 100).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class WorkerState implements SharedState {
  readonly audit = new Audit();
  readonly sessions = new SessionRegistry();
  readonly clusters: TopologyReplica;
  readonly nodePorts: NodePortReplica;
  readonly metrics: WorkerMetrics;
  private readonly lineWriters = new Set<ForwardingLines>();
  /** Until the first commit brings the primary's: no ticket issued before it is ever resumed. */
  ticketSecret: Buffer = randomBytes(32);

  constructor(
    private readonly send: SendToPrimary,
    ask: AskPrimary,
  ) {
    this.metrics = new WorkerMetrics(ask);
    this.audit.addSink(new ForwardingAuditSink(send));
    this.clusters = new TopologyReplica(send);
    this.nodePorts = new NodePortReplica(send);
  }

  /** Take the primary's topologies and port maps (before a commit, and when they change). */
  load(state: HostState): void {
    this.ticketSecret = Buffer.from(state.ticketSecret);
    this.nodePorts.load(state.ports);
    this.clusters.replace(state.topologies);
  }

  topologyChanged(cluster: string, topology: Topology): void {
    this.clusters.set(cluster, topology);
  }

  portsChanged(ports: readonly LineAssignment[]): void {
    this.nodePorts.load(ports);
  }

  /** The primary writes every file and reopens them; nothing here. */
  reopenLogs(): Promise<LogReopenReport> {
    return Promise.resolve({ reopened: [], failed: [] });
  }

  /** A writer whose lines the primary appends to `file` (it keeps the one open file). */
  openLines(file: string): LineWriter {
    const w = new ForwardingLines(file, this.send);
    this.lineWriters.add(w);
    return w;
  }

  /** The primary has applied the host-wide part already, and sent it with the commit. */
  apply(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.nodePorts.stop();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await Promise.all([...this.lineWriters].map((w) => w.close()));
    await this.audit.close();
  }
}

// What is one per host: cluster discovery, the node ⇄ public port maps of every cluster line, the
// kernel data path (one nftables table, one conntrack follower), and the audit sinks. In one
// process the Host is the Runtime's shared state; with workers it lives in the primary, and the
// workers read replicas of it (workers/). Kernel-path flows are sessions of the host's registry.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { jsonLinesSink } from '../audit/jsonl-sink.js';
import { openAuditStore, type SqliteAuditStore } from '../audit/sqlite-store.js';
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import { Audit } from '../audit/events.js';
import type { LineWriter } from '../audit/line-writer.js';
import { LogFiles, type LogReopenReport } from '../audit/log-files.js';
import { ClusterPorts } from '../cluster/node-ports.js';
import { ClusterRegistry } from '../cluster/registry.js';
import type { Snapshot } from '../faces/face.js';
import { KernelDataPath } from '../faces/port-forward/kernel-data-path.js';
import { SessionRegistry } from '../pipeline/session-registry.js';
import { LocalMetrics } from '../faces/metrics-hub.js';
import type { SharedState } from './shared-state.js';
import { HostMetrics } from './host-metrics.js';

export class Host implements SharedState {
  readonly audit = new Audit();
  readonly metrics = new LocalMetrics();
  /** The audit log and access-log files this process writes (with workers: every worker's). */
  readonly logFiles = new LogFiles();
  /** Made once per start; workers receive it with every commit (workers/messages.ts). */
  readonly ticketSecret = randomBytes(32);
  readonly clusters: ClusterRegistry;
  readonly nodePorts: ClusterPorts;
  private readonly kernel = new KernelDataPath();
  private kernelInUse = false;
  private current: Snapshot | undefined;
  private readonly portListeners = new Set<() => void>();
  private stopped = false;
  /** The config generation and reloads, the clusters' discovery: one per host. */
  readonly hostMetrics: HostMetrics;

  constructor(
    private readonly log: Logger,
    readonly sessions = new SessionRegistry(),
  ) {
    this.clusters = new ClusterRegistry(log);
    this.nodePorts = new ClusterPorts(log);
    this.hostMetrics = new HostMetrics(this.clusters);
    this.metrics.register(this.hostMetrics.registry);
    this.clusters.onChange((cluster) => {
      if (!this.nodePorts.topologyChanged(cluster, this.clusters)) return;
      for (const l of this.portListeners) l();
      if (this.kernelInUse) void this.applyKernel();
    });
  }

  /** A shared table of port maps (a fleet's) says something new: recompute, and tell who follows. */
  sharedPortsChanged(): void {
    if (!this.nodePorts.sharedChanged()) return;
    for (const l of this.portListeners) l();
    if (this.kernelInUse) void this.applyKernel();
  }

  /** Called after the port maps change on a topology change (the primary tells its workers). */
  onPortsChanged(listener: () => void): () => void {
    this.portListeners.add(listener);
    return () => this.portListeners.delete(listener);
  }

  /**
   * Open the audit sinks the config names: JSON lines (stdout, stderr or a file) and the SQLite
   * store (its writer thread and prune timer are closed with the host). Throws with the next step
   * when one cannot open. Read once at start (`audit.store` and `audit.log` need a restart).
   */
  openAudit(loaded: LoadedConfig): SqliteAuditStore | undefined {
    const auditLog = loaded.config.audit.log;
    const target = ['stdout', 'stderr'].includes(auditLog)
      ? auditLog
      : path.resolve(loaded.baseDir, auditLog);
    try {
      this.audit.addSink(jsonLinesSink(this.logFiles.writer(target, `audit log ${target}`)));
    } catch (err) {
      throw new GatehouseError('GH_ERR_AUDIT_LOG', [target, (err as Error).message], { cause: err });
    }
    const store = openAuditStore(loaded.config.audit.store, loaded.baseDir, {
      retention: loaded.config.audit.retention,
      onError: (err) => this.log.error({ err }, 'audit store write failed'),
    });
    if (store) this.audit.addSink(store);
    return store;
  }

  openLines(file: string, label: string): LineWriter {
    return this.logFiles.writer(file, label);
  }

  /** Open every log file again by its path (after logrotate renamed it). */
  reopenLogs(): Promise<LogReopenReport> {
    return this.logFiles.reopen();
  }

  async apply(snapshot: Snapshot): Promise<void> {
    if (this.stopped) return;
    this.current = snapshot;
    // Called once per config put in force (at start, and per applied reload), in either process model.
    this.hostMetrics.generation++;
    await this.clusters.reconcile(snapshot.loaded.config, snapshot.loaded.baseDir);
    this.nodePorts.setLines(snapshot.clusterLines, this.clusters);
    await this.applyKernel();
  }

  private async applyKernel(): Promise<void> {
    const snapshot = this.current;
    if (!snapshot || this.stopped) return;
    const entries = snapshot.forwardPlan.filter((e) => e.dataPath === 'kernel');
    if (entries.length === 0 && !this.kernelInUse) return;
    this.kernelInUse = entries.length > 0;
    await this.kernel.apply(
      snapshot,
      entries,
      { policy: snapshot.policy, audit: this.audit, sessions: this.sessions, log: this.log },
      (e) => this.nodePorts.nodeFor(e.line, e.bind.port),
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clusters.stop();
    await this.kernel.shutdown();
  }

  close(): Promise<void> {
    return this.audit.close();
  }
}

// The seam between what runs once per process (listeners, faces, the relays of their sessions) and
// what must be one however many processes relay: the audit writer, cluster discovery and the node ⇄
// port maps, the kernel data path. A Runtime reads that state only through SharedState:
//   - in one process, the Host itself (runtime/host.ts) is the shared state;
//   - in a worker, a replica kept by the primary over IPC (workers/worker-state.ts);
//   - in a fleet of replicas, the same seam over PostgreSQL (planned).
import type { Audit } from '../audit/events.js';
import type { LineWriter } from '../audit/line-writer.js';
import type { LogReopenReport } from '../audit/log-files.js';
import type { MetricsHub } from '../faces/metrics-hub.js';
import type { NodePortMap } from '../cluster/node-ports.js';
import type { Topologies } from '../cluster/registry.js';
import type { Snapshot } from '../faces/face.js';
import type { SessionRegistry } from '../pipeline/session-registry.js';

export interface SharedState {
  /** Where this process's audit events go (sinks here, or the one writer elsewhere). */
  readonly audit: Audit;
  /** This process's live sessions (what terminate and revocation close here). */
  readonly sessions: SessionRegistry;
  readonly clusters: Topologies;
  readonly nodePorts: NodePortMap;
  /** The faces' metrics, scraped as one for the whole host. */
  readonly metrics: MetricsHub;
  /** The host's secret that TLS session ticket keys are derived from (the same in every worker). */
  readonly ticketSecret: Buffer;
  /** A writer of log lines (an egress access log) for `file`: the one writer of that file on the host. */
  openLines(file: string, label: string): LineWriter;
  /** Open the log files again by their paths (logrotate); a worker's replica has none of its own. */
  reopenLogs(): Promise<LogReopenReport>;
  /**
   * Bring the host-wide state in line with `snapshot` before the faces apply it: clusters
   * discovered, lines mapped, the kernel data path set. A worker's replica has it already.
   */
  apply(snapshot: Snapshot): Promise<void>;
  /** Stop discovery and the kernel data path (sessions still drain). Idempotent. */
  stop(): Promise<void>;
  /** After the last session: write what is pending and close the audit sinks. */
  close(): Promise<void>;
}

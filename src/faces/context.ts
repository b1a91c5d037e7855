// What a face needs from the runtime to handle one connection: the current policy snapshot, the
// audit trail, the session registry, and cluster lookups and port maps. Faces never reach the runtime itself.
import type { Logger } from 'pino';
import type { Audit } from '../audit/events.js';
import type { IdleTimers } from '../pipeline/idle-watch.js';
import type { LineWriter } from '../audit/line-writer.js';
import type { MetricsHub } from './metrics-hub.js';
import type { HostPort } from '../net/address.js';
import type { SessionRegistry } from '../pipeline/session-registry.js';
import type { NodePortMap } from '../cluster/node-ports.js';
import type { Topologies } from '../cluster/registry.js';
import type { SecurityPolicy } from '../policy/security-groups.js';

export interface FaceContext {
  readonly policy: SecurityPolicy;
  readonly audit: Audit;
  readonly sessions: SessionRegistry;
  /** The runtime's coarse idle timers (one per interval, stopped at shutdown). */
  readonly timers: IdleTimers;
  /** Operational log (stderr); audit events go through `audit`. */
  readonly log: Logger;
  /** Live topology of the configured clusters. */
  readonly clusters: Topologies;
  /** The node ⇄ public port maps of cluster lines (one computation per host, the same in every worker). */
  readonly nodePorts: NodePortMap;
  /** A writer of lines (an egress access log) for `file`: one writer per file on the host. */
  openLines(file: string, label: string): LineWriter;
  /** The faces' Prometheus registries, scraped as one for the whole host. */
  readonly metrics: MetricsHub;
  /**
   * 48 bytes of TLS session ticket keys for `scope`: the same in every worker of the host (a ticket
   * one worker issued resumes at another), different for every scope.
   */
  ticketKeys(scope: string): Buffer;
  /** Worker processes sharing the listeners (1 alone): limits are enforced as each one's share. */
  readonly workers: number;
  /** The index-th node of a cluster (masters first), or undefined when there is none. */
  clusterNode(cluster: string, index: number): HostPort | undefined;
}

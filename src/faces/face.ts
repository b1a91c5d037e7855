// A face is an arrangement of pipeline steps behind some listeners. The runtime owns the sockets
// (plain TCP servers: TLS, where a face wants it, is layered on the accepted socket so security
// groups admit before any handshake) and asks each face once per config snapshot for its plan:
// which binds it wants, what a connection on each does, and whatever else the face derives from
// the config (cluster lines, the kernel plan). Everything the face does under that snapshot reads
// the plan; nothing recomputes it.
import type { Socket } from 'node:net';
import type { LoadedConfig } from '../config/load.js';
import type { HostPort } from '../net/address.js';
import type { ProxyTrust } from '../pipeline/proxy-header.js';
import { clusterLines, type ClusterLine } from '../policy/cluster-lines.js';
import { planPortForwards, type ForwardPlanEntry } from '../policy/forward-plan.js';
import { compileSecurityPolicy, type SecurityPolicy } from '../policy/security-groups.js';
import type { FaceContext } from './context.js';
import type { LimitsAt } from './limits.js';

/** One config and what every part derives from it alike, computed once per process and reload. */
export interface Snapshot {
  readonly loaded: LoadedConfig;
  readonly policy: SecurityPolicy;
  /** One entry per public port of every port forward: its routes, the kernel rules and the lines read it. */
  readonly forwardPlan: readonly ForwardPlanEntry[];
  /** Every run of public ports that fronts a cluster (port forwards and access direct listeners). */
  readonly clusterLines: readonly ClusterLine[];
}

/** The snapshot of a loaded config: nothing is started or changed. */
export function makeSnapshot(loaded: LoadedConfig): Snapshot {
  const policy = compileSecurityPolicy(loaded.config, loaded.source);
  const forwardPlan = planPortForwards(loaded.config, loaded.source);
  return { loaded, policy, forwardPlan, clusterLines: clusterLines(loaded.config, forwardPlan) };
}

export interface ListenerRoute {
  readonly bind: HostPort;
  /**
   * Set on listeners with `proxyProtocol: v2`: the runtime reads the PROXY header (from a trusted
   * load balancer only) before `handle`, and refusals are reported under this face and listener.
   */
  readonly proxy?: ProxyTrust & { readonly face: string; readonly listener: string };
  /** The section's `limits`: the runtime's gate for this listener enforces them at admission. */
  readonly limits?: LimitsAt;
  /** Handles one accepted connection under the snapshot this route was made from. */
  handle(socket: Socket, ctx: FaceContext): void;
}

/** What a face derived from one snapshot; a face extends it with what its other parts read. */
export interface FacePlan {
  readonly routes: readonly ListenerRoute[];
}

export interface Face<P extends FacePlan = FacePlan> {
  readonly name: string;
  /** The face's plan under `snapshot`, built once, before anything changes. */
  plan(snapshot: Snapshot): P;
  /** After a snapshot is in force: start or adjust watchers and timers from its plan. */
  applied?(plan: P, snapshot: Snapshot, ctx: FaceContext): void | Promise<void>;
  /** Stop watchers and timers (sessions are closed by the runtime). Idempotent. */
  shutdown?(): void | Promise<void>;
}

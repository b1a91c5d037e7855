// How workers share a listening port. Node ≥ 22.12 (and ≥ 23.1) has `server.listen({ reusePort })`
// (nodejs/node#55408): each worker gets its own SO_REUSEPORT socket and the kernel spreads new
// connections across them; nothing passes through the primary. Older Node has only the cluster
// module's two policies: round-robin (the default on Linux: the primary accepts every connection
// and hands the handle to a worker, a cost per connection in one process, nodejs/node#40615) or
// SCHED_NONE (`NODE_CLUSTER_SCHED_POLICY=none`: one shared listen socket that every worker accepts
// from, which the kernel balances unevenly). The log says which one runs.
import cluster from 'node:cluster';

export interface ListenMode {
  readonly reusePort: boolean;
  /** For the log line at start. */
  readonly name: 'reuseport' | 'round-robin' | 'shared-socket';
  readonly description: string;
}

/** Whether this Node's net.Server.listen takes `reusePort` (Linux, Node ≥ 22.12 or ≥ 23.1). */
export function hasReusePort(version = process.versions.node, platform = process.platform): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

export function listenMode(): ListenMode {
  if (hasReusePort())
    return {
      reusePort: true,
      name: 'reuseport',
      description: 'each worker listens on its own SO_REUSEPORT socket; the kernel balances connections',
    };
  if (cluster.schedulingPolicy === cluster.SCHED_NONE)
    return {
      reusePort: false,
      name: 'shared-socket',
      description:
        'workers accept from one shared socket (NODE_CLUSTER_SCHED_POLICY=none); this Node has no reusePort (22.12+ has)',
    };
  return {
    reusePort: false,
    name: 'round-robin',
    description:
      'the primary accepts and hands each connection to a worker in turn; this Node has no reusePort (22.12+ has)',
  };
}

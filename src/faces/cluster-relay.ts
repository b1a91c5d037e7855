// Protocol-aware relay hooks for cluster forward lines: what a client sees of the cluster is the
// gateway's public address and each node's public port, never a private node address.
import type { Socket } from 'node:net';
import { parseIp } from '../net/cidr.js';
import type { ForwardPlanEntry } from '../policy/forward-plan.js';
import type { RelayOptions } from '../pipeline/relay.js';
import { clusterConfigReply, createDiscoveryInterceptor } from '../protocols/memcached-discovery.js';
import { createRespRewriteSession } from '../protocols/resp-rewrite.js';
import type { FaceContext } from './context.js';
import type { ClusterPorts } from './cluster-ports.js';

type Hooks = Pick<RelayOptions, 'transformToClient' | 'transformToTarget' | 'flushToClient'>;

/** The address the client should be sent to: configured, or the one it reached us on. */
export function publicHost(entry: ForwardPlanEntry, socket: Socket): string {
  if (entry.publicAddress) return entry.publicAddress;
  const local = socket.localAddress ?? entry.bind.host;
  return parseIp(local)?.toString() ?? local;
}

export function clusterRelayHooks(
  entry: ForwardPlanEntry,
  socket: Socket,
  ctx: FaceContext,
  ports: ClusterPorts,
): Hooks {
  if (entry.target.kind !== 'cluster') return {};
  const topology = ctx.clusters.topology(entry.target.cluster);
  if (topology?.kind === 'memcached') {
    const host = publicHost(entry, socket);
    const interceptor = createDiscoveryInterceptor(() => {
      const { ports: list, version } = ports.publicPorts(entry);
      return clusterConfigReply(
        version,
        list.map((port) => ({ host, port })),
      );
    });
    return { transformToTarget: interceptor.toServer, transformToClient: interceptor.toClient };
  }
  if (topology?.kind === 'redis-cluster') {
    const cluster = entry.target.cluster;
    const host = publicHost(entry, socket);
    // Called for every node address in a MOVED/ASK or CLUSTER reply: each is a sign the client is
    // learning topology, so it also asks for a (debounced) refresh of ours.
    const session = createRespRewriteSession((nodeHost, nodePort) => {
      ctx.clusters.refreshSoon(cluster);
      const port = ports.publicPortOf(entry, nodeHost, nodePort);
      return port === undefined ? undefined : { host, port };
    });
    return {
      transformToTarget: session.fromClient,
      transformToClient: session.toClient,
      flushToClient: () => session.rewriter.end(),
    };
  }
  return {};
}

// Protocol-aware relay hooks for cluster lines (port forwards and direct listeners): what a client
// sees of the cluster is the gateway's public address and each node's public port, never a
// private node address.
import type { Socket } from 'node:net';
import { parseIp } from '../../net/cidr.js';
import type { RelayOptions } from '../../pipeline/relay.js';
import { clusterConfigReply, createDiscoveryInterceptor } from '../../protocols/memcached-discovery.js';
import { createRespRewriteSession } from '../../protocols/resp-rewrite.js';
import type { FaceContext } from '../context.js';

type Hooks = Pick<RelayOptions, 'transformToClient' | 'transformToTarget' | 'flushToClient'>;

/** The address the client should be sent to: configured, or the one it reached us on. */
export function publicHost(publicAddress: string | undefined, socket: Socket): string {
  if (publicAddress) return publicAddress;
  const local = socket.localAddress ?? '';
  return parseIp(local)?.toString() ?? local;
}

/** Where a client stream on a cluster line is: which line, which cluster, and its own socket. */
export interface ClusterStream {
  readonly line: string;
  readonly cluster: string;
  readonly publicAddress: string | undefined;
  /** The socket the client reached us on (its local address is the default public address). */
  readonly socket: Socket;
}

export function clusterRelayHooks(stream: ClusterStream, ctx: FaceContext): Hooks {
  const { line, cluster } = stream;
  const ports = ctx.nodePorts;
  const topology = ctx.clusters.topology(cluster);
  const host = publicHost(stream.publicAddress, stream.socket);
  if (topology?.kind === 'memcached') {
    const interceptor = createDiscoveryInterceptor(() => {
      const { ports: list, version } = ports.publicPorts(line);
      return clusterConfigReply(
        version,
        list.map((port) => ({ host, port })),
      );
    });
    return { transformToTarget: interceptor.toServer, transformToClient: interceptor.toClient };
  }
  if (topology?.kind === 'redis-cluster') {
    // Called for every node address in a MOVED/ASK or CLUSTER reply: each is a sign the client is
    // learning topology, so it also asks for a (debounced) refresh of ours.
    const session = createRespRewriteSession((nodeHost, nodePort) => {
      ctx.clusters.refreshSoon(cluster);
      const port = ports.publicPortOf(line, nodeHost, nodePort);
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

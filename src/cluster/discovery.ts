// Ask a cluster what it looks like: CLUSTER SHARDS on Redis 7+, CLUSTER NODES otherwise, and a
// standalone server (cluster support disabled) is a one-node topology. Seeds are tried in order.
import { Redis } from 'ioredis';
import type { HostPort } from '../net/address.js';
import { parseClusterNodes, parseClusterShards, staticTopology, type Topology } from './topology.js';

function byAddress(t: Topology): Topology {
  const nodes = [...t.nodes].sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
  return { ...t, nodes };
}

/** The ACL user discovery logs in as (`clusters.<name>.discoveryAuth`). */
export interface DiscoveryCredentials {
  readonly username: string;
  readonly password: string;
}

async function ask(seed: HostPort, timeoutMs: number, credentials?: DiscoveryCredentials): Promise<Topology> {
  const client = new Redis({
    host: seed.host,
    port: seed.port,
    ...(credentials ? { username: credentials.username, password: credentials.password } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // reported through the rejected command instead
  try {
    await client.connect();
    try {
      const shards = await client.call('CLUSTER', 'SHARDS');
      const t = parseClusterShards(shards, seed.host);
      if (t.nodes.length > 0) return byAddress(t);
    } catch (err) {
      if (/cluster support disabled/i.test((err as Error).message))
        return staticTopology('standalone', [seed]);
      // Older than 7.0: no SHARDS. Fall through to NODES.
    }
    const text = String(await client.call('CLUSTER', 'NODES'));
    return byAddress(parseClusterNodes(text, seed.host));
  } catch (err) {
    if (/cluster support disabled/i.test((err as Error).message)) return staticTopology('standalone', [seed]);
    throw err;
  } finally {
    client.disconnect();
  }
}

/** The topology as the first answering seed sees it; throws the last error when none answers. */
export async function discoverRedis(
  seeds: readonly HostPort[],
  timeoutMs = 2000,
  credentials?: DiscoveryCredentials,
): Promise<Topology> {
  let last: unknown;
  for (const seed of seeds) {
    try {
      return await ask(seed, timeoutMs, credentials);
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new Error('no seed answered');
}

// The topology of a cache cluster as Gatehouse needs it: which nodes exist, their addresses and
// roles, and which slots each master serves. Parsed from CLUSTER SHARDS (Redis 7+) or CLUSTER
// NODES (every version); values come off the wire, so every number is bounds-checked.

export interface ClusterNode {
  /** Stable identity: the cluster node id, or host:port where there is none (memcached, standalone). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly role: 'master' | 'replica' | 'standalone';
  /** For a replica, the id of its master. */
  readonly masterId?: string;
  /** Slot ranges served (masters only). */
  readonly slots: readonly (readonly [number, number])[];
  readonly healthy: boolean;
}

export interface Topology {
  readonly kind: 'redis-cluster' | 'standalone' | 'memcached';
  readonly nodes: readonly ClusterNode[];
}

const SLOTS = 16384;

function validPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536;
}

function validSlot(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < SLOTS;
}

/** RESP2 maps arrive as flat [k, v, k, v] arrays; RESP3 ones may already be objects. */
function asRecord(v: unknown): Record<string, unknown> | undefined {
  if (Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = v[i + 1];
    return out;
  }
  if (v && typeof v === 'object') return v as Record<string, unknown>;
  return undefined;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
}

/**
 * CLUSTER SHARDS, as a client library returns it. Nodes without a usable address are skipped;
 * `askedHost` stands in for an empty ip, which a lone node that has met no other reports.
 */
export function parseClusterShards(reply: unknown, askedHost = ''): Topology {
  const nodes: ClusterNode[] = [];
  if (!Array.isArray(reply)) return { kind: 'redis-cluster', nodes };
  for (const shardRaw of reply) {
    const shard = asRecord(shardRaw);
    if (!shard) continue;
    const flat = Array.isArray(shard.slots) ? shard.slots.map(num) : [];
    const slots: [number, number][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const lo = flat[i]!;
      const hi = flat[i + 1]!;
      if (validSlot(lo) && validSlot(hi) && lo <= hi) slots.push([lo, hi]);
    }
    const members = (Array.isArray(shard.nodes) ? shard.nodes : [])
      .map(asRecord)
      .filter((n) => n !== undefined);
    const master = members.find((n) => n.role === 'master');
    for (const n of members) {
      const port = num(n.port ?? n['tls-port']);
      const host = String(n.ip || n.endpoint || askedHost);
      if (!validPort(port) || host === '' || host === '?') continue;
      const isMaster = n.role === 'master';
      nodes.push({
        id: String(n.id ?? `${host}:${port}`),
        host,
        port,
        role: isMaster ? 'master' : 'replica',
        ...(!isMaster && master?.id !== undefined ? { masterId: String(master.id) } : {}),
        slots: isMaster ? slots : [],
        healthy: n.health === undefined || n.health === 'online',
      });
    }
  }
  return { kind: 'redis-cluster', nodes };
}

/** CLUSTER NODES text: `id ip:port@cport[,hostname] flags master ping pong epoch link slots…`. */
export function parseClusterNodes(text: string, askedHost = ''): Topology {
  const nodes: ClusterNode[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [id, addr, flags, master, , , , link, ...slotFields] = f as [
      string,
      string,
      string,
      string,
      ...string[],
    ];
    const m = /^(.*):(\d+)@\d+(?:,.*)?$/.exec(addr);
    if (!m) continue;
    const host = m[1] || (flags.includes('myself') ? askedHost : '');
    const port = Number(m[2]);
    if (!validPort(port) || host === '' || flags.includes('noaddr') || flags.includes('handshake')) continue;
    const isMaster = flags.split(',').includes('master');
    const slots: [number, number][] = [];
    for (const s of slotFields) {
      if (s.startsWith('[')) continue; // a slot being migrated or imported: not served yet
      const [a, b] = s.split('-').map(Number);
      const lo = a!;
      const hi = b ?? lo;
      if (validSlot(lo) && validSlot(hi) && lo <= hi) slots.push([lo, hi]);
    }
    nodes.push({
      id,
      host,
      port,
      role: isMaster ? 'master' : 'replica',
      ...(!isMaster && master !== '-' ? { masterId: master } : {}),
      slots: isMaster ? slots : [],
      healthy: !flags.includes('fail') && link === 'connected',
    });
  }
  return { kind: 'redis-cluster', nodes };
}

export function staticTopology(
  kind: 'standalone' | 'memcached',
  seeds: readonly { host: string; port: number }[],
): Topology {
  return {
    kind,
    nodes: seeds.map((s) => ({
      id: `${s.host}:${s.port}`,
      host: s.host,
      port: s.port,
      role: 'standalone',
      slots: [],
      healthy: true,
    })),
  };
}

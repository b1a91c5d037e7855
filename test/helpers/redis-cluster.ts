// A real Redis Cluster for tests: N masters with R replicas each, on loopback (or in a network
// namespace), created with `redis-cli --cluster create` as an operator would.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePortRange, portIsFree, run, startRedis, type Server } from './procs.js';

export interface RedisCluster {
  readonly host: string;
  readonly nodes: Server[];
  readonly dir: string;
  /** Start one more empty cluster-enabled node (not yet part of the cluster). */
  addServer(): Promise<Server>;
  /**
   * Resolve once every live node knows every other, reports the cluster ok, and all agree on the
   * configuration: what `redis-cli --cluster rebalance` and `reshard` need before they move slots.
   * Gossip takes a few node timeouts to spread a new node.
   */
  waitConsistent(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Whether every node on these ports reports cluster_state:ok. */
async function clusterOk(host: string, ports: number[], netns: string | undefined): Promise<boolean> {
  const states = await Promise.all(
    ports.map((p) =>
      run('redis-cli', ['-h', host, '-p', String(p), 'CLUSTER', 'INFO'], netns ? { netns } : {}),
    ),
  );
  return states.every((s) => s.stdout.includes('cluster_state:ok'));
}

async function waitClusterOk(
  host: string,
  ports: number[],
  netns: string | undefined,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await clusterOk(host, ports, netns)) return;
    if (Date.now() > deadline) throw new Error(`cluster not ok after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startRedisCluster(
  opts: { masters?: number; replicas?: number; host?: string; netns?: string; ports?: number[] } = {},
): Promise<RedisCluster> {
  const host = opts.host ?? '127.0.0.1';
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-cluster-'));
  const nodes: Server[] = [];
  let next = 0;
  // Each node also listens on its cluster bus port (port + 10000): pick ports whose bus port is
  // free and below 65536, so a node never fails to start.
  const freeNodePort = async (): Promise<number> => {
    for (;;) {
      const port = await freePortRange(1);
      if (port + 10000 < 65536 && (await portIsFree(port + 10000, host))) return port;
    }
  };
  const startNode = async (): Promise<Server> => {
    const fixed = opts.ports?.[next++];
    const port = fixed ?? (await freeNodePort());
    const s = await startRedis({
      host,
      port,
      ...(opts.netns ? { netns: opts.netns } : {}),
      extra: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '1000',
        '--dir',
        dir,
        // A replica's full sync writes its RDB file into `dir`: a shared dump.rdb was loaded by
        // the next node started there, which then held keys (add-node: "node is not empty").
        '--dbfilename',
        `dump-${port}.rdb`,
      ],
    });
    nodes.push(s);
    return s;
  };
  /** A node on a port of its own: a chosen port taken before redis bound it is chosen again. */
  const startFreshNode = async (): Promise<Server> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await startNode();
      } catch (err) {
        if (opts.ports || attempt >= 4) throw err;
      }
    }
  };
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ns = opts.netns ? { netns: opts.netns } : {};
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) await startFreshNode();
    for (const n of nodes) {
      for (let i = 0; i < 100; i++) {
        if ((await run('redis-cli', ['-h', host, '-p', String(n.port), 'PING'], ns)).stdout.trim() === 'PONG')
          break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const create = await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${host}:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      ns,
    );
    if (create.code !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    await waitClusterOk(
      host,
      nodes.map((n) => n.port),
      opts.netns,
    );
  } catch (err) {
    await stop(); // the caller never gets a handle to stop it with
    throw err;
  }
  return {
    host,
    nodes,
    dir,
    addServer: startFreshNode,
    async waitConsistent(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // `--cluster check` compares only masters that hold slots, so an empty new master that
        // some node has not met yet passes it, and rebalance from that node leaves it out: first
        // every live node must know every other one, past the handshake.
        const live = nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
        if (live.length === 0) throw new Error('no live cluster node');
        const views = await Promise.all(
          live.map((n) => run('redis-cli', ['-h', host, '-p', String(n.port), 'CLUSTER', 'NODES'], ns)),
        );
        // CLUSTER NODES lines: "<id> <addr> <flags> …"; each node's own line is flagged myself.
        const flagsById = views.map(
          (v) => new Map(v.stdout.split('\n').map((l) => [l.split(' ')[0], l.split(' ')[2] ?? ''])),
        );
        const ids = flagsById.map((m) => [...m].find(([, flags]) => flags.includes('myself'))?.[0]);
        const everyoneMet = flagsById.every((m) =>
          ids.every((id) => {
            const flags = id === undefined ? undefined : m.get(id);
            return flags !== undefined && !/handshake|noaddr/.test(flags);
          }),
        );
        // A new master also reports the cluster down for a while after it starts (Redis holds a
        // master back before it turns writable), and a slot migration to it fails until then.
        const ready =
          everyoneMet &&
          (await clusterOk(
            host,
            live.map((n) => n.port),
            opts.netns,
          ));
        const check = ready
          ? await run('redis-cli', ['--cluster', 'check', `${host}:${live[0]!.port}`], ns)
          : undefined;
        if (check?.code === 0) return;
        if (Date.now() > deadline)
          throw new Error(
            `cluster not consistent after ${timeoutMs} ms:\n${views.map((v) => v.stdout).join('\n')}${check?.stdout ?? ''}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop,
  };
}

// Unmodified Redis Cluster clients through the gateway, with no NAT mapping on the client side:
// every node address in MOVED/ASK and CLUSTER replies is rewritten to a public port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { freePortRange, run } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

let cluster: RedisCluster;
let gh: Gatehouse;
let lo: number;
const RANGE = 12;

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);
const publicPort = (p: number) => p >= lo && p < lo + RANGE;
const nodePorts = () => new Set(cluster.nodes.map((n) => n.port));

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  lo = await freePortRange(RANGE);
  gh = await startGatehouse(`
clusters:
  sessions: { engine: redis, nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"], refreshInterval: 1s }
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${lo}-${lo + RANGE - 1}", cluster: sessions }
admin:
  enabled: false
`);
});

after(async () => {
  await gh?.stop();
  await cluster?.stop();
});

/** Every port-looking number in redis-cli output: "127.0.0.1:PORT" or a number on its own line. */
function portsIn(text: string): number[] {
  return [...text.matchAll(/127\.0\.0\.1:(\d{4,5})\b|^(?:port )?(\d{4,5})$/gm)].map((m) =>
    Number(m[1] ?? m[2]),
  );
}

test('CLUSTER SLOTS, SHARDS, NODES and REPLICAS through the gateway show only public ports', async () => {
  const private_ = nodePorts();
  for (const args of [
    ['CLUSTER', 'SLOTS'],
    ['CLUSTER', 'SHARDS'],
    ['CLUSTER', 'NODES'],
  ]) {
    for (const protocol of ['2', '3']) {
      const r = await cli(lo, ...(protocol === '3' ? ['-3'] : []), ...args);
      assert.equal(r.code, 0, r.stderr);
      for (const p of private_)
        assert.ok(
          !r.stdout.includes(String(p)),
          `${args.join(' ')} RESP${protocol} leaks node port ${p}:\n${r.stdout}`,
        );
      assert.ok(portsIn(r.stdout).some(publicPort), `${args.join(' ')} names public ports:\n${r.stdout}`);
    }
  }
  const nodes = (await cli(lo, 'CLUSTER', 'NODES')).stdout;
  const masterId = /^(\S+) \S+ (?:myself,)?master/m.exec(nodes)![1]!;
  const replicas = await cli(lo, 'CLUSTER', 'REPLICAS', masterId);
  for (const p of private_) assert.ok(!replicas.stdout.includes(String(p)));
  assert.match(
    replicas.stdout,
    new RegExp(`127\\.0\\.0\\.1:(${[...Array(RANGE).keys()].map((i) => lo + i).join('|')})@`),
  );
});

test('redis-cli -c writes and reads keys across all slots, following rewritten MOVED replies', async () => {
  const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
  const script =
    keys.map((k) => `SET ${k} v-${k}`).join('\n') + '\n' + keys.map((k) => `GET ${k}`).join('\n') + '\n';
  const r = await run('redis-cli', ['-c', '-p', String(lo)], { input: script });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l === 'OK').length, keys.length, r.stdout.slice(0, 500));
  for (const k of keys) assert.ok(lines.includes(`v-${k}`), `GET ${k}`);
  const moved = await cli(lo, 'GET', 'key:1');
  const direct = await cli(lo, 'CLUSTER', 'KEYSLOT', 'key:1');
  assert.ok(/^\d+$/.test(direct.stdout.trim()));
  // Any MOVED that reaches a client names a public port.
  const m = /MOVED \d+ [\d.]+:(\d+)/.exec(moved.stdout + moved.stderr);
  if (m) assert.ok(publicPort(Number(m[1])), moved.stdout);
});

test('ioredis Cluster with no natMap works through the gateway and only ever connects to public ports', async () => {
  const c = new Cluster([{ host: '127.0.0.1', port: lo }], {
    enableReadyCheck: true,
    slotsRefreshTimeout: 2000,
  });
  try {
    for (let i = 0; i < 300; i++) await c.set(`io:${i}`, String(i));
    for (let i = 0; i < 300; i++) assert.equal(await c.get(`io:${i}`), String(i));
    const ports = c.nodes('all').map((n) => n.options.port!);
    assert.ok(ports.length >= 3);
    assert.ok(ports.every(publicPort), `ioredis nodes: ${ports.join(',')}`);
  } finally {
    c.disconnect();
  }
});

test('node-redis cluster client works through the gateway', async () => {
  const c = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${lo}` }] });
  c.on('error', () => {});
  await c.connect();
  try {
    for (let i = 0; i < 200; i++) await c.set(`nr:${i}`, String(i));
    for (let i = 0; i < 200; i++) assert.equal(await c.get(`nr:${i}`), String(i));
    const ports = c.masters.map((m) => m.port);
    assert.ok(ports.every(publicPort), `node-redis masters: ${ports.join(',')}`);
  } finally {
    await c.disconnect();
  }
});

test('a node added and slots moved to it: it gets a public port and clients reach it', async () => {
  const fresh = await cluster.addServer();
  const seed = cluster.nodes[0]!.port;
  const add = await run('redis-cli', [
    '--cluster',
    'add-node',
    `127.0.0.1:${fresh.port}`,
    `127.0.0.1:${seed}`,
  ]);
  assert.equal(add.code, 0, add.stdout + add.stderr);
  // Rebalance refuses while the nodes disagree, and the new node reaches them by gossip: wait
  // until every node agrees, then give it slots.
  await cluster.waitConsistent();
  const rebalance = await run('redis-cli', [
    '--cluster',
    'rebalance',
    `127.0.0.1:${seed}`,
    '--cluster-use-empty-masters',
    '--cluster-yes',
  ]);
  assert.equal(rebalance.code, 0, rebalance.stdout + rebalance.stderr);
  const freshId = (await cli(fresh.port, 'CLUSTER', 'MYID')).stdout.trim();
  const log = await gh.waitForLog(
    (l) => l.msg === 'cluster node gets a public port' && l.id === freshId,
    15_000,
  );
  const port = Number(log.port);
  assert.ok(publicPort(port));
  assert.equal((await cli(port, 'CLUSTER', 'MYID')).stdout.trim(), freshId);
  const c = new Cluster([{ host: '127.0.0.1', port: lo }]);
  try {
    for (let i = 0; i < 300; i++) await c.set(`new:${i}`, String(i));
    const keysOnFresh = Number((await cli(fresh.port, 'DBSIZE')).stdout.trim());
    assert.ok(keysOnFresh > 0, `keys landed on the new node; rebalance said:\n${rebalance.stdout}`);
    for (let i = 0; i < 300; i++) assert.equal(await c.get(`new:${i}`), String(i));
    assert.ok(
      c
        .nodes('all')
        .map((n) => n.options.port!)
        .every(publicPort),
    );
  } finally {
    c.disconnect();
  }
});

test('a master killed and its replica promoted: clients carry on within 10 s', async () => {
  const seed = cluster.nodes.find((n) => n.proc.exitCode === null)!.port;
  const nodes = (await cli(seed, 'CLUSTER', 'NODES')).stdout.split('\n').filter(Boolean);
  const owner = async (key: string) => {
    const slot = Number((await cli(seed, 'CLUSTER', 'KEYSLOT', key)).stdout.trim());
    return nodes.find((l) => {
      const f = l.split(' ');
      return (
        f[2]!.includes('master') &&
        f.slice(8).some((r) => {
          const [a, b] = r.split('-').map(Number);
          return slot >= a! && slot <= (b ?? a!);
        })
      );
    })!;
  };
  // A key whose master has a replica to promote.
  let key = '';
  let master = '';
  for (let i = 0; !key; i++) {
    const line = await owner(`fo:${i}`);
    const id = line.split(' ')[0]!;
    if (nodes.some((l) => l.split(' ')[3] === id && !l.includes('fail'))) {
      key = `fo:${i}`;
      master = line;
    }
  }
  const c = new Cluster([{ host: '127.0.0.1', port: lo }], {
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
  });
  c.on('error', () => {});
  try {
    await c.set(key, 'before');
    const victim = cluster.nodes.find((n) => n.port === Number(/:(\d+)@/.exec(master)![1]))!;
    await victim.stop();
    const started = Date.now();
    let value: string | null = null;
    while (Date.now() - started < 10_000) {
      value = await Promise.race([
        c.get(key).catch(() => null),
        new Promise<null>((r) => setTimeout(() => r(null), 1000)),
      ]);
      if (value === 'before') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(value, 'before', 'the promoted replica serves the key');
    assert.ok(Date.now() - started < 10_000);
    await c.set(key, 'after');
    assert.equal(await c.get(key), 'after');
    assert.ok(
      c
        .nodes('all')
        .map((n) => n.options.port!)
        .every(publicPort),
    );
  } finally {
    c.disconnect();
  }
});

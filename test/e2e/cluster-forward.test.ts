// Cluster-aware port forwards against a real Redis Cluster (3 masters, 3 replicas) and three
// memcached nodes: every node gets a public port, kept in sync with the live topology.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePortRange, run, type Server, startMemcached } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

let cluster: RedisCluster;
let memcached: Server[] = [];
let gh: Gatehouse;
let redisLo: number;
let mcLo: number;
const REDIS_PORTS = 10;

const cli = (port: number, ...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  memcached = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  redisLo = await freePortRange(REDIS_PORTS);
  mcLo = await freePortRange(3);
  gh = await startGatehouse(`
clusters:
  sessions: { engine: redis, nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"], refreshInterval: 1s }
  web: { engine: memcached, nodes: [${memcached.map((m) => `"127.0.0.1:${m.port}"`).join(', ')}] }
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${redisLo}-${redisLo + REDIS_PORTS - 1}", cluster: sessions }
      - { listen: "${mcLo}-${mcLo + 2}", cluster: web }
admin:
  enabled: false
`);
});

after(async () => {
  await gh?.stop();
  await cluster?.stop();
  await Promise.all(memcached.map((m) => m.stop()));
});

test('every memcached node gets a public port, in the order the nodes are written', async () => {
  for (let i = 0; i < 3; i++) {
    const stat = await run('memcstat', [`--servers=127.0.0.1:${mcLo + i}`]);
    const pid = /pid: (\d+)/.exec(stat.stdout)?.[1];
    assert.equal(Number(pid), memcached[i]!.proc.pid, `port ${mcLo + i} reaches node ${i}`);
  }
});

test('every Redis cluster node (masters and replicas) gets its own public port', async () => {
  const ids = new Set<string>();
  for (let p = redisLo; p < redisLo + 6; p++) {
    const r = await cli(p, 'CLUSTER', 'MYID');
    assert.match(r.stdout.trim(), /^[0-9a-f]{40}$/, `port ${p}: ${r.stdout}${r.stderr}`);
    ids.add(r.stdout.trim());
  }
  assert.equal(ids.size, 6);
  const unassigned = await cli(redisLo + 6, 'PING');
  assert.notEqual(unassigned.stdout.trim(), 'PONG', 'a port with no node refuses');
  await gh.waitForAudit((l) => l.event === 'dial_failed' && l.reason === 'no_cluster_node');
});

test('auto discovery: `config get cluster` is answered with public ports; a discovery client works through them', async () => {
  const raw = await run('bash', ['-c', `printf 'config get cluster\\r\\n' | nc -N 127.0.0.1 ${mcLo + 1}`]);
  const body = `1\n127.0.0.1|127.0.0.1|${mcLo} 127.0.0.1|127.0.0.1|${mcLo + 1} 127.0.0.1|127.0.0.1|${mcLo + 2}\n`;
  assert.equal(raw.stdout, `CONFIG cluster 0 ${body.length}\r\n${body}\r\nEND\r\n`);
  assert.ok(!raw.stdout.includes(String(memcached[0]!.port)), 'no node address leaks');

  const script = new URL('../helpers/memcache-plus-client.mjs', import.meta.url).pathname;
  const r = await run(process.execPath, [script, `127.0.0.1:${mcLo}`, '60']);
  const seen = JSON.parse(r.stdout) as { hosts?: string[]; matched?: number; error?: string };
  assert.equal(seen.error, undefined, r.stdout + r.stderr);
  assert.deepEqual(seen.hosts, [`127.0.0.1:${mcLo}`, `127.0.0.1:${mcLo + 1}`, `127.0.0.1:${mcLo + 2}`]);
  assert.equal(seen.matched, 60);
  // The keys landed on all three nodes, each reached through its public port.
  for (const m of memcached) {
    const stat = await run('memcstat', [`--servers=127.0.0.1:${m.port}`]);
    assert.ok(Number(/curr_items: (\d+)/.exec(stat.stdout)?.[1]) > 0, `node ${m.port} holds keys`);
  }
  for (let p = mcLo; p <= mcLo + 2; p++) {
    await gh.waitForAudit((l) => l.event === 'accepted' && String(l.listener).endsWith(`:${p}`));
  }
});

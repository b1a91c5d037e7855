// A Redis Cluster behind an access endpoint's direct TLS listener with a port range: every node
// gets a public TLS port and node addresses in replies are rewritten, so `redis-cli --tls -c` and
// ioredis with TLS work through the gateway with nothing else configured.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Cluster } from 'ioredis';
import { freePortRange, run } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles } from '../helpers/access-pki.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

let cluster: RedisCluster;
let gh: Gatehouse;
let alice: ClientFiles;
let ca: string;
let lo: number;
let dir: string | undefined;
const RANGE = 8;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-cluster-'));
  const pki = await mintPki(['IP:127.0.0.1'], dir);
  ca = pki.ca;
  alice = await pki.client('alice', ['developers']);
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  lo = await freePortRange(RANGE + 1);
  gh = await startGatehouse(
    `pki: ./pki
clusters:
  sessions: { engine: redis, nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"], refreshInterval: 1s }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${lo + RANGE}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${lo}-${lo + RANGE - 1}", target: "cluster:sessions" }
admin:
  enabled: false
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop();
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const tlsCli = (port: number, ...args: string[]) =>
  run('redis-cli', [
    '--tls',
    '--cert',
    alice.cert,
    '--key',
    alice.key,
    '--cacert',
    ca,
    '-p',
    String(port),
    ...args,
  ]);
const publicPort = (p: number) => p >= lo && p < lo + RANGE;

test('each node has its own public TLS port; CLUSTER replies through it name only public ports', async () => {
  const ids = new Set<string>();
  for (let p = lo; p < lo + 6; p++) ids.add((await tlsCli(p, 'CLUSTER', 'MYID')).stdout.trim());
  assert.equal(ids.size, 6);
  const slots = await tlsCli(lo, 'CLUSTER', 'SLOTS');
  for (const n of cluster.nodes)
    assert.ok(!slots.stdout.includes(String(n.port)), `leaks ${n.port}:\n${slots.stdout}`);
});

test('redis-cli --tls -c follows rewritten MOVED replies across all slots', async () => {
  const keys = Array.from({ length: 100 }, (_, i) => `tls:${i}`);
  const script =
    keys.map((k) => `SET ${k} ${k}`).join('\n') + '\n' + keys.map((k) => `GET ${k}`).join('\n') + '\n';
  const r = await run(
    'redis-cli',
    ['--tls', '--cert', alice.cert, '--key', alice.key, '--cacert', ca, '-c', '-p', String(lo)],
    { input: script },
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l === 'OK').length, keys.length);
  for (const k of keys) assert.ok(lines.includes(k));
});

test('ioredis Cluster over TLS, no natMap, reaches every slot through public ports only', async () => {
  const c = new Cluster([{ host: '127.0.0.1', port: lo }], {
    redisOptions: {
      tls: { ca: fs.readFileSync(ca), cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key) },
    },
  });
  try {
    for (let i = 0; i < 200; i++) await c.set(`io-tls:${i}`, String(i));
    for (let i = 0; i < 200; i++) assert.equal(await c.get(`io-tls:${i}`), String(i));
    assert.ok(c.nodes('all').every((n) => publicPort(n.options.port!)));
  } finally {
    c.disconnect();
  }
});

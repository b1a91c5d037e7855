// A fleet on one machine: three Gatehouse replicas (each on its own loopback address, the same
// ports, one of them with two workers) behind Debian's HAProxy with send-proxy-v2 and
// check-send-proxy, sharing a PostgreSQL the test starts itself. Clients bound to 127.0.0.23 are
// admitted and 127.0.0.24 refused through HAProxy; one audit table with every replica's events and
// no duplicates; sessions of every replica listed anywhere and terminated from another; a
// revocation closing a session on each replica within 1 s; the same cluster port map on every
// replica; PostgreSQL stopped and started under load; a rolling restart with no failed command.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { Redis } from 'ioredis';
import { freePort, run, startRedis, stopProcess, track, waitForPort, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked by the tests
type Json = any;

const REPLICAS = ['r1', 'r2', 'r3'] as const;
type ReplicaName = (typeof REPLICAS)[number];
const ADDRESS: Record<ReplicaName, string> = { r1: '127.0.0.11', r2: '127.0.0.12', r3: '127.0.0.13' };
const TOKEN = 'f'.repeat(32);

let root: string;
let pg: TestPostgres;
let redis: Server;
let cluster: RedisCluster;
let pki: TestPki;
let alice: ClientFiles, mallory: ClientFiles;
let haproxy: ChildProcess;
const gh = {} as Record<ReplicaName, Gatehouse>;
const ports = { forward: 0, direct: 0, tunnel: 0, admin: 0, health: 0, lineLo: 0, ha: 0 };
const LINE = 8; // public ports per cluster line
const open: net.Socket[] = [];
/** HAProxy's log of sessions that did not end normally (option dontlog-normal). */
const haproxyLog: string[] = [];

function config(r: ReplicaName): string {
  const a = ADDRESS[r];
  return `workers: ${r === 'r3' ? 2 : 1}
pki: ./pki
securityGroups:
  clients:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.23/32" }
      - { protocol: tcp, ports: all, source: "127.0.0.1/32" }
clusters:
  cache:
    engine: redis
    nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"]
portForwards:
  behind-lb:
    address: ${a}
    securityGroups: [clients]
    proxyProtocol: v2
    trustedProxies: ["127.0.0.1/32"]
    forwards:
      - { listen: "${ports.forward}", target: "127.0.0.1:${redis.port}" }
  cache:
    address: ${a}
    forwards:
      - { listen: "${ports.lineLo}-${ports.lineLo + LINE - 1}", cluster: cache }
accessEndpoints:
  dev:
    listen: "${a}:${ports.tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "${a}:${ports.direct}", target: "127.0.0.1:${redis.port}" }
health:
  listen: "${a}:${ports.health}"
# /readyz fails at SIGTERM; HAProxy (checking it every 200 ms) stops sending before listeners close.
drainDelay: 1s
shutdownTimeout: 2s
admin:
  listen: "${a}:${ports.admin}"
  token: "${TOKEN}"
audit:
  store: none
fleet:
  postgres: "${pg.url}"
  replicaId: ${r}
`;
}

async function startReplica(r: ReplicaName): Promise<Gatehouse> {
  const dir = path.join(root, r);
  fs.mkdirSync(dir, { recursive: true });
  const g = await startGatehouse(config(r), { dir });
  await g.waitForLog((l) => l.msg === 'admin API listening');
  return g;
}

async function api(
  r: ReplicaName,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`http://${ADDRESS[r]}:${ports.admin}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** Poll `probe` until `ok` holds (the fleet syncs on a one-second beat): no event says "synced". */
async function until<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last: ${JSON.stringify(v)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** A plain client through HAProxy from `localAddress`, answered once (its session is registered). */
async function throughLb(localAddress = '127.0.0.23'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: ports.ha, localAddress });
  open.push(s);
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  assert.equal(d.toString(), '+PONG\r\n');
  return s;
}

async function ping(s: net.Socket): Promise<string> {
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  return d.toString();
}

async function tlsTo(r: ReplicaName, c: ClientFiles): Promise<tls.TLSSocket> {
  const s = tls.connect({
    host: ADDRESS[r],
    port: ports.direct,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(c.cert),
    key: fs.readFileSync(c.key),
    servername: 'localhost',
  });
  open.push(s);
  s.on('error', () => {});
  await once(s, 'secureConnect');
  assert.equal(await ping(s), '+PONG\r\n');
  return s;
}

/** HAProxy's own view of a backend server (its stats socket): UP once its checks pass again. */
async function haproxyStatus(r: ReplicaName): Promise<string> {
  const out = await run('bash', ['-c', `echo "show stat" | nc -U ${path.join(root, 'haproxy.sock')}`]);
  const row = out.stdout.split('\n').find((l) => l.startsWith(`replicas,${r},`));
  return row?.split(',')[17] ?? '?';
}

function writeHaproxy(): string {
  const cfg = path.join(root, 'haproxy.cfg');
  fs.writeFileSync(
    cfg,
    `global
  maxconn 2000
  stats socket ${path.join(root, 'haproxy.sock')} mode 600 level admin
  log stdout format raw local0 info
defaults
  mode tcp
  log global
  option tcplog
  option dontlog-normal
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch 1
frontend fe
  bind 127.0.0.1:${ports.ha}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
${REPLICAS.map((r) => `  server ${r} ${ADDRESS[r]}:${ports.forward} send-proxy-v2 check port ${ports.health} inter 200ms fall 1 rise 2`).join('\n')}
`,
  );
  return cfg;
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-fleet-'));
  pg = await startPostgres();
  redis = await startRedis();
  cluster = await startRedisCluster({ masters: 3, replicas: 0 });
  pki = await mintPki(['IP:127.0.0.11', 'IP:127.0.0.12', 'IP:127.0.0.13', 'DNS:localhost'], root);
  alice = await pki.client('alice', ['developers']);
  mallory = await pki.client('mallory', ['developers']);
  ports.forward = await freePort();
  ports.direct = await freePort();
  ports.tunnel = await freePort();
  ports.health = await freePort();
  ports.admin = await freePort();
  ports.ha = await freePort();
  // A run of LINE free ports for the cluster line (the same on every replica's address).
  for (;;) {
    const lo = await freePort();
    const all = await Promise.all(Array.from({ length: LINE }, (_, i) => portFree(lo + i)));
    if (lo + LINE < 65000 && all.every(Boolean)) {
      ports.lineLo = lo;
      break;
    }
  }
  // Each replica its own copy of the PKI: revocations reach the others through the database.
  for (const r of REPLICAS) fs.cpSync(pki.dir, path.join(root, r, 'pki'), { recursive: true });
  for (const r of REPLICAS) gh[r] = await startReplica(r);
  haproxy = track(spawn('haproxy', ['-f', writeHaproxy(), '-db'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  haproxy.stdout!.on('data', (d: Buffer) => haproxyLog.push(...d.toString().split('\n').filter(Boolean)));
  await waitForPort(ports.ha);
  for (const r of REPLICAS)
    await until(
      () => haproxyStatus(r),
      (st) => st === 'UP',
      `HAProxy sees ${r} up`,
    );
});

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

after(async () => {
  for (const s of open) s.destroy();
  if (haproxy) await stopProcess(haproxy);
  for (const r of REPLICAS) await gh[r]?.stop();
  await cluster?.stop();
  await redis?.stop();
  await pg?.remove();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('through HAProxy a client at 127.0.0.23 is admitted and one at 127.0.0.24 refused, by every replica', async () => {
  for (let i = 0; i < 6; i++) (await throughLb()).destroy();
  const bad = net.connect({ host: '127.0.0.1', port: ports.ha, localAddress: '127.0.0.24' });
  bad.on('error', () => {});
  bad.write('PING\r\n');
  await once(bad, 'close');
  // Each replica's audit lines arrive on its stdout in batches: wait for all three.
  await Promise.all(
    REPLICAS.map((r) =>
      gh[r].waitForAudit((l) => l.event === 'accepted' && String(l.source).startsWith('127.0.0.23:')),
    ),
  );
  const denied = await Promise.race(
    REPLICAS.map((r) =>
      gh[r].waitForAudit((l) => l.event === 'denied' && String(l.source).startsWith('127.0.0.24:')),
    ),
  );
  assert.equal(denied.reason, 'no_ingress_rule_matched');
});

test("one audit table holds every replica's events once; /api/audit on r1 returns them with their replica", async () => {
  for (let i = 0; i < 9; i++) (await throughLb()).destroy();
  const byReplica = await until(
    () => pg.sql("SELECT replica || '=' || count(*) FROM gatehouse_events GROUP BY replica ORDER BY replica"),
    (out) => REPLICAS.every((r) => new RegExp(`^${r}=\\d+`, 'm').test(out)),
    'events of every replica',
  );
  assert.match(byReplica, /r1=\d+\nr2=\d+\nr3=\d+/);
  const dups = await pg.sql(
    'SELECT replica, boot, seq FROM gatehouse_events GROUP BY replica, boot, seq HAVING count(*) > 1',
  );
  assert.equal(dups.trim(), '');
  const r = await api('r1', 'GET', '/api/audit?face=portForward&event=accepted&limit=500');
  assert.equal(r.status, 200);
  const replicas = new Set((r.body.events as Json[]).map((e) => e.replica));
  assert.deepEqual([...replicas].sort(), [...REPLICAS]);
});

test("r1 lists every replica's sessions and terminates one held by r3 within 1 s", async () => {
  const held = await Promise.all(Array.from({ length: 6 }, () => throughLb()));
  const list = await until(
    async () => ((await api('r1', 'GET', '/api/sessions')).body.sessions as Json[]) ?? [],
    (l) => REPLICAS.every((r) => l.some((s) => s.replica === r && s.face === 'portForward')),
    'sessions of every replica on r1',
  );
  const onR3 = list.find((s) => s.replica === 'r3' && s.face === 'portForward');
  const socket = held.find((s) => onR3.source === `127.0.0.23:${s.localPort}`)!;
  assert.ok(socket, 'the listed session is one of ours');
  const closed = once(socket, 'close');
  const t0 = Date.now();
  const r = await api('r1', 'DELETE', `/api/sessions/${onR3.id}`);
  assert.equal(r.status, 200);
  await closed;
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `closed after ${elapsed} ms`);
  const line = await gh.r3.waitForAudit((l) => l.event === 'closed' && l.session === onR3.id);
  assert.equal(line.reason, 'terminated');
  for (const s of held) s.destroy();
});

test('a revocation on r1 closes the certificate’s session on every replica within 1 s', async () => {
  const sessions = await Promise.all(REPLICAS.map((r) => tlsTo(r, mallory)));
  const other = await tlsTo('r2', alice);
  const closed = sessions.map((s) => once(s, 'close'));
  const t0 = Date.now();
  const r = await api('r1', 'POST', '/api/pki/revoke', { name: 'mallory' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await Promise.all(closed);
  const elapsed = Date.now() - t0;
  const steps = REPLICAS.flatMap((r) =>
    gh[r].logs
      .filter((l) => /CRL|revoked/.test(String(l.msg)) && Number(l.time) >= t0 - 10)
      .map((l) => `${r} +${Number(l.time) - t0} ms ${String(l.msg)}`),
  );
  assert.ok(elapsed < 1000, `closed after ${elapsed} ms:\n${steps.join('\n')}`);
  assert.equal(await ping(other), '+PONG\r\n');
  // r2 and r3 hold the new CRL in their own files.
  const crl = fs.readFileSync(path.join(root, 'r1', 'pki', 'crl.pem'), 'utf8');
  for (const x of ['r2', 'r3'] as const)
    assert.equal(fs.readFileSync(path.join(root, x, 'pki', 'crl.pem'), 'utf8'), crl);
});

test('every replica gives each cluster node the same public port', async () => {
  const maps = await Promise.all(
    REPLICAS.map(async (r) => {
      const out = await run('redis-cli', ['-h', ADDRESS[r], '-p', String(ports.lineLo), 'CLUSTER', 'SLOTS']);
      // The ports in the reply, in slot order: node addresses are each replica's own.
      return [...out.stdout.matchAll(/^(\d{4,5})$/gm)]
        .map((m) => Number(m[1]))
        .filter((p) => p >= ports.lineLo && p < ports.lineLo + LINE);
    }),
  );
  assert.ok(maps[0]!.length >= 3, JSON.stringify(maps));
  assert.deepEqual(maps[1], maps[0]);
  assert.deepEqual(maps[2], maps[0]);
  const rows = await pg.sql("SELECT count(*) FROM gatehouse_node_ports WHERE line = 'cache/0'");
  assert.equal(rows.trim(), '3');
});

test('PostgreSQL stopped and started under load: sessions carry on, the spool is written once', async () => {
  const held = await throughLb();
  await pg.stop();
  await Promise.all(
    REPLICAS.map((r) => gh[r].waitForLog((l) => String(l.msg).startsWith('fleet: PostgreSQL unreachable'))),
  );
  for (let i = 0; i < 12; i++) (await throughLb()).destroy();
  assert.equal(await ping(held), '+PONG\r\n');
  await pg.start();
  await Promise.all(REPLICAS.map((r) => gh[r].waitForLog((l) => l.msg === 'fleet: PostgreSQL is back')));
  // What each replica wrote to audit.log (its JSON lines) is in the table exactly once.
  for (const r of REPLICAS) {
    const lines = gh[r].audit.filter((l) => typeof l.session === 'string');
    const expected = new Map<string, number>();
    for (const l of lines)
      expected.set(
        `${String(l.session)}/${String(l.event)}`,
        (expected.get(`${String(l.session)}/${String(l.event)}`) ?? 0) + 1,
      );
    const stored = await until(
      () =>
        pg.sql(
          `SELECT session || '/' || event || '=' || count(*) FROM gatehouse_events WHERE replica = '${r}' AND session IS NOT NULL GROUP BY session, event`,
        ),
      (out) => out.trim().split('\n').filter(Boolean).length >= expected.size,
      `${r}'s spool written`,
    );
    const got = new Map(
      stored
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
    for (const [k, n] of expected) assert.equal(Number(got.get(k)), n, `${r} ${k}`);
  }
  held.destroy();
});

test('a rolling restart under redis-benchmark -k 0 and an ioredis loop fails no command', async () => {
  const client = new Redis({
    host: '127.0.0.1',
    port: ports.ha,
    lazyConnect: true,
    maxRetriesPerRequest: 20,
  });
  // Through HAProxy the client's address is 127.0.0.1 (admitted by the group): ioredis cannot bind.
  const failures: string[] = [];
  await client.connect();
  let stop = false;
  let done = 0;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        await client.set(`fleet:${i % 100}`, String(i));
        assert.equal(await client.get(`fleet:${i % 100}`), String(i));
        done++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  // redis-benchmark -k 0 (a new connection per request) in rounds, for as long as the restarts take.
  const benchFailures: string[] = [];
  let rounds = 0;
  const bench = (async () => {
    while (!stop) {
      const b = await run('redis-benchmark', [
        '-h',
        '127.0.0.1',
        '-p',
        String(ports.ha),
        '-k',
        '0',
        '-c',
        '4',
        '-n',
        '2000',
        '-t',
        'ping',
        '-q',
      ]);
      rounds++;
      if (
        b.code !== 0 ||
        /error|reset|refused/i.test(b.stdout + b.stderr.replace(/WARNING: Keepalive disabled[^\n]*/, ''))
      )
        benchFailures.push(`${b.code} ${b.stderr} ${b.stdout}`.slice(0, 500));
    }
  })();
  for (const r of REPLICAS) {
    await gh[r].stop();
    gh[r] = await startReplica(r);
    // Restart the next one only once HAProxy sends this one traffic again (two good checks).
    await until(
      () => haproxyStatus(r),
      (st) => st === 'UP',
      `HAProxy sees ${r} up`,
    );
  }
  stop = true;
  await Promise.all([loop, bench]);
  client.disconnect();
  const odd = REPLICAS.flatMap((r) =>
    gh[r].audit
      .filter((l) => l.face === 'portForward' && (l.event === 'denied' || l.event === 'dial_failed'))
      .map((l) => `${r} ${JSON.stringify(l)}`),
  );
  assert.deepEqual(
    benchFailures,
    [],
    `${odd.slice(-10).join('\n')}\nHAProxy:\n${haproxyLog.slice(-20).join('\n')}`,
  );
  assert.ok(rounds >= 2, `${rounds} benchmark rounds ran across the restarts`);
  assert.deepEqual(failures, []);
  assert.ok(done > 0);
});

// Worker processes behind one primary, with the real daemon: sessions of every worker listed and
// terminated through the admin API, revocation reaching every worker, one scrape summing every
// worker, a worker killed with SIGKILL replaced while the others carry on (its audit events in the
// store exactly once), reloads under a reconnecting load, and a config one worker refuses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';
import { CLI, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked by the tests
type Json = any;

let dir: string;
let pki: TestPki;
let redis: Server;
let origin: http.Server;
let originPort: number;
let gh: Gatehouse;
let token: string;
let admin: string;
let alice: ClientFiles, mallory: ClientFiles;
const ports = { forward: 0, direct: 0, tunnel: 0, egress: 0, admin: 0 };
const open: net.Socket[] = [];

function config(extra = ''): string {
  return `workers: 2
pki: ./pki
securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.0/8" }
portForwards:
  main:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: "${ports.forward}", target: "127.0.0.1:${redis.port}" }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${ports.tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.direct}", target: "127.0.0.1:${redis.port}" }
egressProxies:
  out:
    listen: "127.0.0.1:${ports.egress}"
    securityGroups: [local]
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    accessLog: ./access.log
admin:
  listen: "127.0.0.1:${ports.admin}"
  token: "${'t'.repeat(32)}"
audit:
  store: ./audit.db
${extra}`;
}

async function api(method: string, p: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${admin}${p}`, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

async function sessions(): Promise<Json[]> {
  const r = await api('GET', '/api/sessions');
  assert.equal(r.status, 200);
  return r.body.sessions as Json[];
}

/** A plain TCP client of the port forward, answered once (so its session is registered). */
async function redisClient(): Promise<net.Socket> {
  const s = net.connect({ port: ports.forward, host: '127.0.0.1' });
  open.push(s);
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  assert.equal(d.toString(), '+PONG\r\n');
  return s;
}

async function ping(s: net.Socket | tls.TLSSocket): Promise<string> {
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  return d.toString();
}

async function tlsClient(c: ClientFiles): Promise<tls.TLSSocket> {
  const s = tls.connect({
    host: '127.0.0.1',
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

/** Open clients until sessions of `source`'s kind are held by both workers; returns them by worker. */
async function spreadOverWorkers<S extends net.Socket>(
  make: () => Promise<S>,
  face: string,
): Promise<Map<string, S[]>> {
  const byWorker = new Map<string, S[]>();
  for (let i = 0; i < 64 && byWorker.size < 2; i++) {
    const s = await make();
    const list = await sessions();
    const mine = list.find((x) => x.face === face && x.source === `127.0.0.1:${s.localPort}`);
    assert.ok(mine, `a session for 127.0.0.1:${s.localPort} in ${JSON.stringify(list)}`);
    byWorker.set(mine.worker, [...(byWorker.get(mine.worker) ?? []), s]);
  }
  assert.deepEqual([...byWorker.keys()].sort(), ['w1', 'w2']);
  return byWorker;
}

function workerPids(): Map<string, number> {
  const pids = new Map<string, number>();
  for (const l of gh.logs) if (l.msg === 'worker running') pids.set(String(l.worker), Number(l.workerPid));
  return pids;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-workers-'));
  pki = await mintPki(['IP:127.0.0.1', 'DNS:localhost'], dir);
  alice = await pki.client('alice', ['developers']);
  mallory = await pki.client('mallory', ['developers']);
  redis = await startRedis();
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  token = 't'.repeat(32);
  admin = `http://127.0.0.1:${ports.admin}`;
  gh = await startGatehouse(config(), { dir, env: { GATEHOUSE_TEST_REFUSE_CONFIG: 'w2:# refuse-me' } });
  await gh.waitForLog((l) => l.msg === 'admin API listening');
});

after(async () => {
  for (const s of open) s.destroy();
  await gh?.stop();
  await redis?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the primary starts two workers and says how they share the listeners', async () => {
  const start = await gh.waitForLog((l) => String(l.msg).startsWith('starting 2 workers'));
  assert.ok(['reuseport', 'round-robin', 'shared-socket'].includes(String(start.listen)));
  const ready = await gh.waitForLog((l) => l.msg === 'ready');
  assert.equal(ready.workers, 2);
  const pids = workerPids();
  assert.deepEqual([...pids.keys()].sort(), ['w1', 'w2']);
  for (const pid of pids.values()) assert.doesNotThrow(() => process.kill(pid, 0));
});

test('the admin lists the sessions of every worker with its id, and terminates one wherever it runs', async () => {
  const byWorker = await spreadOverWorkers(redisClient, 'portForward');
  // `gatehouse sessions` shows which worker holds each.
  const cli = await run(process.execPath, [CLI, 'sessions', '--admin', admin, '--token', token]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^ID +WORKER +FACE/);
  assert.match(cli.stdout, / w1 +portForward /);
  assert.match(cli.stdout, / w2 +portForward /);
  const victim = byWorker.get('w2')![0]!;
  const listed = (await sessions()).find((x) => x.source === `127.0.0.1:${victim.localPort}`);
  const closed = once(victim, 'close');
  const r = await api('DELETE', `/api/sessions/${listed.id}`);
  assert.equal(r.status, 200);
  await closed;
  const line = await gh.waitForAudit((l) => l.event === 'closed' && l.session === listed.id);
  assert.equal(line.reason, 'terminated');
  // The sessions of the other worker carry on.
  assert.equal(await ping(byWorker.get('w1')![0]!), '+PONG\r\n');
  assert.equal((await api('DELETE', `/api/sessions/${listed.id}`)).status, 404);
});

test('one scrape of /metrics sums the requests of every worker', async () => {
  const n = 12;
  for (let i = 0; i < n; i++) {
    // A new connection each time: the listeners spread them over the workers.
    const r = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-x',
      `http://127.0.0.1:${ports.egress}`,
      `http://127.0.0.1:${originPort}/x`,
    ]);
    assert.equal(r.stdout, '200');
  }
  const text = await run('curl', ['-s', `http://127.0.0.1:${ports.egress}/metrics`]);
  const allowed = [...text.stdout.matchAll(/^gatehouse_egress_requests_total\{([^}]*)\} (\d+)/gm)]
    .filter((m) => m[1]!.includes('decision="allowed"'))
    .reduce((sum, m) => sum + Number(m[2]), 0);
  assert.equal(allowed, n, text.stdout);
  // The access log has every request's line, whole: the primary is its one writer (in batches:
  // read until they are all there).
  const read = () => fs.readFileSync(path.join(dir, 'access.log'), 'utf8').trim().split('\n');
  const deadline = Date.now() + 5000;
  let log = read();
  while (log.filter((l) => l.includes(`:${originPort}/x`)).length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    log = read();
  }
  assert.equal(log.filter((l) => l.includes(`:${originPort}/x`)).length, n);
  for (const l of log) assert.match(l, /^\d+\.\d{3} +\d+ 127\.0\.0\.1 \S+ \d+ GET /);
});

test('a new CRL closes the revoked certificate sessions in every worker within 1 s', async () => {
  const byWorker = await spreadOverWorkers(() => tlsClient(mallory), 'accessEndpoint');
  const other = await tlsClient(alice);
  const victims = [...byWorker.values()].flat();
  const closed = victims.map((s) => once(s, 'close'));
  const t0 = Date.now();
  await pki.revoke('mallory');
  await Promise.all(closed);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `closed after ${elapsed} ms`);
  assert.equal(await ping(other), '+PONG\r\n');
});

test('a worker killed with SIGKILL is replaced; the other keeps its sessions; its audit events are stored exactly once', async () => {
  const byWorker = await spreadOverWorkers(redisClient, 'portForward');
  const pids = workerPids();
  const victimPid = pids.get('w2')!;
  // Sessions that ended before the kill, on both workers.
  for (let i = 0; i < 10; i++) {
    const s = await redisClient();
    s.end();
    await once(s, 'close');
  }
  const survivors = byWorker.get('w1')!;
  const doomed = byWorker.get('w2')!;
  const doomedSources = doomed.map((s) => `127.0.0.1:${s.localPort}`);
  const gone = doomed.map((s) => once(s, 'close'));
  process.kill(victimPid, 'SIGKILL');
  await Promise.all(gone);
  const died = await gh.waitForLog((l) => l.msg === 'worker died; starting another in its place');
  assert.equal(died.worker, 'w2');
  assert.equal(died.signal, 'SIGKILL');
  await gh.waitForLog((l) => l.msg === 'worker running' && l.worker === 'w2' && l.workerPid !== victimPid);
  for (const s of survivors) assert.equal(await ping(s), '+PONG\r\n');
  // The replacement serves: new connections keep landing on both workers.
  await spreadOverWorkers(redisClient, 'portForward');

  // Every audit line the primary wrote is in the store once, and nothing else is.
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    const expected = gh.audit.filter((l) => typeof l.session === 'string');
    const deadline = Date.now() + 5000;
    let rows: { session: string; event: string; n: number }[] = [];
    for (;;) {
      rows = db
        .prepare(
          'SELECT session, event, count(*) AS n FROM events WHERE session IS NOT NULL GROUP BY session, event',
        )
        .all() as typeof rows;
      const total = rows.reduce((s, r) => s + r.n, 0);
      if (total >= expected.length || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const dup = rows.filter((r) => r.n > 1 && r.event !== 'denied');
    assert.deepEqual(dup, [], 'no event twice');
    const stored = new Set(rows.map((r) => `${r.session}/${r.event}`));
    for (const l of expected)
      assert.ok(stored.has(`${String(l.session)}/${String(l.event)}`), JSON.stringify(l));
    // The killed worker's sessions were accepted (and logged) before the kill.
    const victimSessions = gh.audit.filter(
      (l) => l.event === 'accepted' && doomedSources.includes(String(l.source)),
    );
    assert.equal(victimSessions.length, doomed.length);
  } finally {
    db.close();
  }
});

test('reloads every 200 ms under redis-benchmark -k 0 lose no request', async () => {
  const bench = run('redis-benchmark', [
    '-p',
    String(ports.forward),
    '-k',
    '0',
    '-c',
    '8',
    '-n',
    '6000',
    '-t',
    'ping',
    '-q',
  ]);
  let reloads = 0;
  let finished = false;
  void bench.then(() => (finished = true));
  const before = gh.logs.filter((l) => l.msg === 'config reloaded').length;
  while (!finished) {
    gh.writeConfig(config(`# reload ${++reloads}\n`));
    await new Promise((r) => setTimeout(r, 200));
  }
  const r = await bench;
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /error|reset|refused/i);
  assert.match(r.stdout, /PING_INLINE: [\d.]+ requests per second/);
  await gh.waitForLog(() => gh.logs.filter((l) => l.msg === 'config reloaded').length > before + 1);
  assert.ok(reloads >= 2, `only ${reloads} reloads while the benchmark ran`);
  const failed = gh.audit.filter((l) => l.event === 'dial_failed' || l.event === 'denied');
  assert.deepEqual(failed, []);
});

test('a config one worker refuses is applied by none, and the error names that worker', async () => {
  // GATEHOUSE_TEST_REFUSE_CONFIG makes worker w2 refuse a config whose text holds the marker: a
  // worker failing to build what the primary validated cannot be produced on demand for real.
  const extra = await freePort();
  const withExtra = (marker: string) =>
    config(marker).replace(
      '    forwards:\n',
      `    forwards:\n      - { listen: "${extra}", target: "127.0.0.1:${redis.port}" }\n`,
    );
  const before = gh.logs.length;
  gh.writeConfig(withExtra('# refuse-me\n'));
  const refused = await gh.waitForLog(
    (l) => gh.logs.indexOf(l) >= before && String(l.msg).startsWith('config not applied'),
  );
  assert.equal(refused.code, 'GH_ERR_WORKER_REFUSED');
  assert.match(String(refused.msg), /worker w2 refused the config/);
  // Neither worker took it: the new port is not served, the old one is.
  const dial = net.connect({ port: extra, host: '127.0.0.1' });
  const [err] = (await once(dial, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
  const s = await redisClient();
  s.destroy();
  // The same change without the marker is applied everywhere.
  gh.writeConfig(withExtra(''));
  await gh.waitForLog(
    (l) =>
      gh.logs.indexOf(l) >= before &&
      l.msg === 'config reloaded' &&
      Array.isArray(l.started) &&
      (l.started as string[]).includes(`127.0.0.1:${extra}`),
  );
  for (let i = 0; i < 4; i++) {
    const c = net.connect({ port: extra, host: '127.0.0.1' });
    await once(c, 'connect');
    c.write('PING\r\n');
    const [d] = (await once(c, 'data')) as [Buffer];
    assert.equal(d.toString(), '+PONG\r\n');
    c.destroy();
  }
});

// The admin API on a running daemon: token, status, sessions + terminate, audit queries, egress
// summary, policy + explain, reload, PKI list + revoke, and the CLI verbs over it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { startAdminLab, type AdminLab } from '../helpers/admin-lab.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { CLI } from '../helpers/gatehouse.js';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';

let lab: AdminLab;
let redis: Server;
let origin: http.Server;
let dir: string;
let config: string;
let pki: TestPki;
let alice: ClientFiles;
const ports = { admin: 0, open: 0, locked: 0, proxy: 0, origin: 0, tunnel: 0, direct: 0 };

before(async () => {
  redis = await startRedis();
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  ports.origin = (origin.address() as net.AddressInfo).port;
  for (const k of ['admin', 'open', 'locked', 'proxy', 'tunnel', 'direct'] as const)
    ports[k] = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-admin-api-'));
  pki = await mintPki(['IP:127.0.0.1'], dir);
  alice = await pki.client('alice', ['developers']);
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  config = `
securityGroups:
  far:
    ingress:
      - { protocol: tcp, ports: "all", source: "198.51.100.0/24" }
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${ports.open}", target: "127.0.0.1:${redis.port}" }
  locked:
    address: 127.0.0.1
    securityGroups: [far]
    forwards:
      - { listen: "${ports.locked}", target: "127.0.0.1:${redis.port}" }
egressProxies:
  out:
    listen: "127.0.0.1:${ports.proxy}"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
accessEndpoints:
  dev:
    listen: "127.0.0.1:${ports.tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.direct}", target: "127.0.0.1:${redis.port}" }
admin:
  listen: "127.0.0.1:${ports.admin}"
`;
  fs.writeFileSync(path.join(dir, 'gatehouse.yaml'), config);
  lab = await startAdminLab(config, { dir });
});

after(async () => {
  await lab?.gh.stop();
  await redis?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function redisClient(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  s.write('PING\r\n');
  const [data] = (await once(s, 'data')) as [Buffer];
  assert.equal(data.toString(), '+PONG\r\n');
  return s;
}

function proxyGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: ports.proxy,
      path: url,
      headers: { host: new URL(url).host },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the generated token is written 0600 next to the config and never logged; no token, no API', async () => {
  const file = path.join(dir, 'gatehouse-admin.token');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.ok(lab.token.length >= 16);
  assert.ok(!JSON.stringify(lab.gh.logs).includes(lab.token), 'the token is not in the daemon log');
  const none = await lab.api('GET', '/api/status', undefined, null);
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'GH_ERR_ADMIN_UNAUTHORIZED');
  const wrong = await lab.api('GET', '/api/status', undefined, 'x'.repeat(32));
  assert.equal(wrong.status, 401);
  const missing = await lab.api('GET', '/api/nothing');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'GH_ERR_ADMIN_NOT_FOUND');
});

test('status and listeners describe the running config', async () => {
  const s = await lab.api('GET', '/api/status');
  assert.equal(s.status, 200);
  assert.deepEqual(s.body.config.faces.portForwards, ['nat', 'locked']);
  assert.deepEqual(s.body.config.faces.egressProxies, ['out']);
  assert.ok(s.body.audit.store.endsWith('gatehouse-audit.db'));
  const l = await lab.api('GET', '/api/listeners');
  const ports_ = (l.body.listening as { port: number }[]).map((x) => x.port).sort();
  assert.deepEqual(ports_, [ports.open, ports.locked, ports.proxy, ports.tunnel, ports.direct].sort());
  assert.ok((l.body.configured as { face: string }[]).some((x) => x.face === 'admin'));
});

test('a live session is listed, terminated from the API, and its client sees the close', async () => {
  const client = await redisClient(ports.open);
  const closed = once(client, 'close');
  const local = client.localPort;
  const list = await lab.api('GET', '/api/sessions');
  const mine = (list.body.sessions as { id: string; source: string; face: string; target: string }[]).find(
    (s) => s.source.endsWith(`:${local}`),
  );
  assert.ok(mine, JSON.stringify(list.body));
  assert.equal(mine.face, 'portForward');
  assert.equal(mine.target, `127.0.0.1:${redis.port}`);
  const t = await lab.api('DELETE', `/api/sessions/${mine.id}`);
  assert.equal(t.status, 200);
  assert.deepEqual(t.body, { terminated: mine.id });
  await closed;
  const again = await lab.api('POST', `/api/sessions/${mine.id}/terminate`);
  assert.equal(again.status, 404);
  await lab.gh.waitForAudit((l) => l.session === mine.id && l.event === 'closed');
  const audit = await lab.api('GET', `/api/audit?session=${mine.id}&event=closed`);
  assert.equal(audit.body.events.length, 1);
  assert.equal(audit.body.events[0].reason, 'terminated');
});

test('audit queries filter by face, decision, source and time; bad filters are 400 with a code', async () => {
  const refused = net.connect({ host: '127.0.0.1', port: ports.locked });
  refused.on('error', () => {}); // reset by the security group
  await new Promise((r) => refused.on('close', r));
  await lab.gh.waitForAudit((l) => l.event === 'denied' && l.face === 'portForward');
  const denied = await lab.api('GET', '/api/audit?face=portForward&decision=denied&since=10m');
  assert.equal(denied.status, 200);
  assert.ok(denied.body.events.length >= 1);
  for (const e of denied.body.events) {
    assert.equal(e.face, 'portForward');
    assert.equal(e.allowed, false);
  }
  const bySource = await lab.api('GET', `/api/audit?source=127.0.0.1&limit=1`);
  assert.equal(bySource.body.events.length, 1);
  assert.ok(bySource.body.next > 0, 'a full page says where the next one starts');
  const future = await lab.api(
    'GET',
    `/api/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
  );
  assert.deepEqual(future.body.events, []);
  const bad = await lab.api('GET', '/api/audit?since=yesterday&decision=maybe');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'GH_ERR_ADMIN_BAD_REQUEST');
  assert.match(bad.body.error.message, /yesterday/);
});

test('egress summary counts allowed and denied requests with their top domains', async () => {
  assert.equal(await proxyGet(`http://127.0.0.1:${ports.origin}/a`), 200);
  assert.equal(await proxyGet(`http://127.0.0.1:${ports.origin}/b`), 200);
  assert.equal(await proxyGet('http://blocked.example.net/'), 403);
  await lab.gh.waitForAudit((l) => l.face === 'egressProxy' && l.event === 'denied');
  const r = await lab.api('GET', '/api/egress?since=1h');
  assert.equal(r.status, 200);
  assert.equal(r.body.allowed, 2);
  assert.equal(r.body.denied, 1);
  assert.deepEqual(r.body.topAllowed, [{ host: '127.0.0.1', count: 2 }]);
  assert.equal(r.body.topDenied[0].host, 'blocked.example.net');
});

test('the audit timeline counts what the summary counts, per bucket; bad parameters are 400 with a code', async () => {
  assert.equal((await lab.api('GET', '/api/audit/timeline', undefined, null)).status, 401);
  const since = new Date(Date.now() - 3600_000).toISOString();
  const r = await lab.api('GET', `/api/audit/timeline?since=${encodeURIComponent(since)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.stepMs, 60_000, 'an hour in 1m buckets');
  assert.ok(r.body.buckets.length >= 60 && r.body.buckets.length <= 62, String(r.body.buckets.length));
  const summary = await lab.api('GET', `/api/audit/summary?since=${encodeURIComponent(since)}`);
  for (const f of summary.body.byFace as { face: string; allowed: number; denied: number }[]) {
    const series = (r.body.faces as { face: string; allowed: number[]; denied: number[] }[]).find(
      (x) => x.face === f.face,
    );
    const sum = (a: number[] = []) => a.reduce((n, x) => n + x, 0);
    assert.deepEqual([sum(series?.allowed), sum(series?.denied)], [f.allowed, f.denied], f.face);
    for (const a of [series!.allowed, series!.denied]) assert.equal(a.length, r.body.buckets.length);
  }
  // The egress requests of the test before: 2 allowed, 1 denied, bytes to the clients.
  const egress = await lab.api('GET', '/api/audit/timeline?since=1h&step=5m&face=egressProxy');
  assert.equal(egress.status, 200);
  assert.equal(egress.body.stepMs, 300_000);
  assert.deepEqual(
    (egress.body.faces as { face: string }[]).map((f) => f.face),
    ['egressProxy'],
  );
  assert.deepEqual([egress.body.total.allowed, egress.body.total.denied], [2, 1]);
  assert.deepEqual(
    (egress.body.listeners as { listener: string }[]).map((l) => l.listener),
    [`out@127.0.0.1:${ports.proxy}`],
  );
  assert.ok(egress.body.total.bytesToClient > 0);
  for (const [query, field] of [
    ['since=yesterday', 'since'],
    ['since=1h&until=2h', 'until'],
    ['step=500ms', 'step'],
    ['step=often', 'step'],
    ['since=7d&step=1s', 'step'],
    ['face=port%20Forward', 'face'],
  ] as const) {
    const bad = await lab.api('GET', `/api/audit/timeline?${query}`);
    assert.equal(bad.status, 400, query);
    assert.equal(bad.body.error.code, 'GH_ERR_ADMIN_BAD_REQUEST', query);
    assert.match(bad.body.error.message, new RegExp(field), query);
  }
});

test('policy lists groups with FILE:LINE; explain gives the same decision as the CLI', async () => {
  const p = await lab.api('GET', '/api/policy');
  const far = (
    p.body.securityGroups as { name: string; ingress: { source: string; where: string }[] }[]
  ).find((g) => g.name === 'far')!;
  assert.equal(far.ingress[0]!.source, '198.51.100.0/24');
  assert.match(far.ingress[0]!.where, /gatehouse\.yaml:5$/);
  const no = await lab.api('POST', '/api/explain', { from: '127.0.0.1', to: `127.0.0.1:${ports.locked}` });
  assert.equal(no.status, 200);
  assert.equal(no.body.results[0].allowed, false);
  const yes = await lab.api('POST', '/api/explain', {
    from: '198.51.100.7',
    to: `127.0.0.1:${ports.locked}`,
  });
  assert.equal(yes.body.results[0].allowed, true);
  assert.match(yes.body.results[0].steps[0].text, /allowed by group far ingress rule 1/);
  const bad = await lab.api('POST', '/api/explain', { from: 'nope', to: '1' });
  assert.equal(bad.status, 400);
});

test('reload from the API takes the SIGHUP path: a broken config is refused with FILE:LINE and kept', async () => {
  const ok = await lab.api('POST', '/api/reload');
  assert.equal(ok.status, 200);
  assert.equal(ok.body.ok, true);
  assert.equal(ok.body.report.kept.length, 5);
  lab.gh.writeConfig(config + 'bogus: 1\n');
  const broken = await lab.api('POST', '/api/reload');
  assert.equal(broken.status, 409);
  assert.equal(broken.body.error.code, 'GH_ERR_CONFIG_INVALID');
  assert.match(broken.body.error.problems.join('\n'), /gatehouse\.yaml:\d+: unknown key "bogus"/);
  lab.gh.writeConfig(config);
  const sessions = await lab.api('GET', '/api/sessions');
  assert.equal(sessions.status, 200, 'the API still serves on the last good config');
});

test('PKI: certificates are listed; revoke writes the CRL, which closes the live session of that certificate', async () => {
  const live = tls.connect({
    host: '127.0.0.1',
    port: ports.direct,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
  });
  await once(live, 'secureConnect');
  live.write('PING\r\n');
  assert.equal(String((await once(live, 'data'))[0]), '+PONG\r\n');
  const sessions = await lab.api('GET', '/api/sessions');
  const mine = (sessions.body.sessions as { face: string; identity?: string }[]).find(
    (s) => s.face === 'accessEndpoint',
  );
  assert.equal(mine?.identity, 'alice');
  const liveClosed = new Promise((r) => live.on('close', r));
  live.on('error', () => {});
  const list = await lab.api('GET', '/api/pki/certificates');
  assert.equal(list.status, 200);
  const names = (list.body.certificates as { name: string; status: string }[]).map(
    (c) => `${c.name}:${c.status}`,
  );
  assert.ok(names.includes('alice:valid') && names.includes('server:valid'), names.join(' '));
  // What each is for: the console offers Revoke on client certificates only.
  const roles = Object.fromEntries(
    (list.body.certificates as { name: string; role: string }[]).map((c) => [c.name, c.role]),
  );
  assert.deepEqual([roles.alice, roles.server, list.body.ca.role], ['client', 'server', 'ca']);
  const crlBefore = fs.statSync(path.join(dir, 'pki', 'crl.pem')).mtimeMs;
  const r = await lab.api('POST', '/api/pki/revoke', { name: 'alice', reason: 'keyCompromise' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.revoked.reason, 'keyCompromise');
  assert.equal(r.body.crl.revoked, 1);
  assert.deepEqual(r.body.removed, [], 'no exports of alice to delete');
  assert.ok(fs.statSync(path.join(dir, 'pki', 'crl.pem')).mtimeMs >= crlBefore);
  await liveClosed; // the endpoint saw the new CRL and closed alice's live session
  await lab.gh.waitForAudit((l) => l.event === 'closed' && l.reason === 'revoked');
  const after_ = await lab.api('GET', '/api/pki/certificates');
  assert.equal(
    (after_.body.certificates as { name: string; status: string }[]).find((c) => c.name === 'alice')?.status,
    'revoked',
  );
  const unknown = await lab.api('POST', '/api/pki/revoke', { name: 'nobody' });
  assert.equal(unknown.body.error.code, 'GH_ERR_PKI_NOT_ISSUED');
  const form = await fetch(`${lab.url}/api/pki/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${lab.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'name=server',
  });
  assert.equal(form.status, 400, 'only JSON bodies: a cross-site form cannot post one');
});

test('CLI verbs: sessions, audit and terminate print readable tables through the API', async () => {
  const cfg = path.join(dir, 'gatehouse.yaml');
  const client = await redisClient(ports.open);
  const sessions = await run(process.execPath, [CLI, 'sessions', '-c', cfg]);
  assert.equal(sessions.code, 0, sessions.stderr);
  // With worker processes a WORKER column names the one holding each session.
  const workers = process.env.GATEHOUSE_TEST_WORKERS ?? '1';
  const worker = workers === '1' ? '' : 'w\\d+\\s+';
  assert.match(sessions.stdout, workers === '1' ? /^ID\s+FACE\s+SOURCE/ : /^ID\s+WORKER\s+FACE\s+SOURCE/);
  assert.match(sessions.stdout, /^ID\s+(WORKER\s+)?FACE\s+SOURCE\s+TARGET\s+IDENTITY\s+AGE\s+IN\s+OUT/);
  const id = new RegExp(
    `^([0-9a-f]+)\\s+${worker}portForward\\s+127\\.0\\.0\\.1:${client.localPort}\\s`,
    'm',
  ).exec(sessions.stdout)?.[1];
  assert.ok(id, sessions.stdout);
  const closed = once(client, 'close');
  const term = await run(process.execPath, [CLI, 'terminate', id, '-c', cfg]);
  assert.equal(term.code, 0, term.stderr);
  assert.equal(term.stdout, `terminated ${id}\n`);
  await closed;
  const audit = await run(process.execPath, [
    CLI,
    'audit',
    '-c',
    cfg,
    '--since',
    '1h',
    '--face',
    'portForward',
    '--decision',
    'denied',
  ]);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /^TIME\s+FACE\s+EVENT\s+DECISION/);
  assert.match(audit.stdout, /portForward\s+denied\s+denied/);
  const status = await run(process.execPath, [CLI, 'status', '-c', cfg]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^pid \d+, up /);
  assert.match(status.stdout, /egressProxy\s+egressProxies\.out\s+127\.0\.0\.1:\d+/);
  const egress = await run(process.execPath, [CLI, 'egress', '--admin', lab.url, '--token', lab.token]);
  assert.equal(egress.code, 0, egress.stderr);
  assert.match(egress.stdout, /^since 24h: \d+ allowed, \d+ denied/);
  assert.match(egress.stdout, /blocked\.example\.net\s+1\s+/);
  const reload = await run(process.execPath, [CLI, 'reload', '-c', cfg], {
    env: { ...process.env, GATEHOUSE_ADMIN_TOKEN: lab.token },
  });
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^reloaded: 0 started, 0 stopped, 5 kept/);
  const wrong = await run(process.execPath, [CLI, 'sessions', '-c', cfg, '--token', 'w'.repeat(20)]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /GH_ERR_ADMIN_UNAUTHORIZED/);
  assert.ok(!wrong.stderr.includes(lab.token));
});

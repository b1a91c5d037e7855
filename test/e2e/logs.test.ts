// Logs that live for months: the audit JSON lines and an egress access log are reopened on SIGUSR1
// and on POST /api/logs/reopen, so logrotate's rename-then-signal works (a line after the signal
// lands in the new file, none in the renamed one); with workers (GATEHOUSE_TEST_WORKERS=2) the
// primary is the one writer and the one reopening. A port forward with `connectionLog: summary`
// writes one line per session instead of three.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';
import { startAdminLab, type AdminLab } from '../helpers/admin-lab.js';
import { tempDir } from '../helpers/temp.js';

type Line = Record<string, unknown>;

let redis: Server;
let lab: AdminLab;
// Made at the top level: an `after` registered inside `before` would run when `before` ends.
const dir = tempDir({ after }, 'gh-logs-');
const ports = { full: 0, summary: 0, proxy: 0, admin: 0, denied: 0 };

before(async () => {
  redis = await startRedis();
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '.example.com\n');
  lab = await startAdminLab(
    `securityGroups:
  local:
    ingress:
      - { ports: '${ports.full},${ports.summary},${ports.proxy}', source: '127.0.0.0/8' }
portForwards:
  full:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: '${ports.full}', target: '127.0.0.1:${redis.port}' }
      - { listen: '${ports.denied}', target: '127.0.0.1:${redis.port}' }
  summary:
    address: 127.0.0.1
    securityGroups: [local]
    connectionLog: summary
    forwards:
      - { listen: '${ports.summary}', target: '127.0.0.1:${redis.port}' }
egressProxies:
  out:
    listen: '127.0.0.1:${ports.proxy}'
    securityGroups: [local]
    allowlist: ./allowlist.txt
    accessLog: ./access.log
admin:
  listen: '127.0.0.1:${ports.admin}'
audit:
  log: ./audit.jsonl
  store: none
`,
    { dir },
  );
});

after(async () => {
  await lab?.gh.stop();
  await redis?.stop();
});

const auditFile = () => path.join(dir, 'audit.jsonl');
const accessFile = () => path.join(dir, 'access.log');

function lines(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/**
 * Until `file` has a line that matches: the daemon writes in batches (every 50 ms), and a file
 * gives no event of its own to wait on, so it is read again until the deadline.
 */
async function waitForLine(file: string, match: (l: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines(file).find(match);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching line in ${file}:\n${lines(file).join('\n')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function ping(port: number): Promise<void> {
  const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING']);
  assert.equal(r.stdout.trim(), 'PONG', r.stderr);
}

/** A request the allowlist denies: an access-log line with no DNS lookup and no origin. */
async function deniedRequest(tag: string): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: ports.proxy,
        method: 'GET',
        path: `http://${tag}.not-allowed.test/`,
        headers: { host: `${tag}.not-allowed.test` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 403);
}

const sessionOf = (l: string) => (JSON.parse(l) as Line).session;

async function lastSessionOn(port: number): Promise<string> {
  const line = await waitForLine(auditFile(), (l) => {
    const e = JSON.parse(l) as Line;
    return e.event === 'closed' && String(e.listener).endsWith(`:${port}`);
  });
  return String(sessionOf(line));
}

test('logrotate: rename, SIGUSR1, and the next lines land in new files, none in the renamed ones', async () => {
  await ping(ports.full);
  await deniedRequest('before');
  await lastSessionOn(ports.full);
  await waitForLine(accessFile(), (l) => l.includes('before.not-allowed.test'));

  fs.renameSync(auditFile(), `${auditFile()}.1`);
  fs.renameSync(accessFile(), `${accessFile()}.1`);
  const signalled = lab.gh.logs.length;
  lab.gh.proc.kill('SIGUSR1');
  const done = await lab.gh.waitForLog(
    (l) => l.msg === 'log files reopened' && l.trigger === 'SIGUSR1' && lab.gh.logs.indexOf(l) >= signalled,
  );
  assert.deepEqual(
    [...(done.reopened as string[])].sort(),
    [path.resolve(dir, 'access.log'), path.resolve(dir, 'audit.jsonl')].sort(),
  );
  // The daemon still runs (no inspector, no exit on SIGUSR1).
  assert.equal(lab.gh.proc.exitCode, null);

  await ping(ports.full);
  await deniedRequest('after');
  await waitForLine(auditFile(), (l) => (JSON.parse(l) as Line).event === 'closed');
  await waitForLine(accessFile(), (l) => l.includes('after.not-allowed.test'));
  assert.ok(!lines(`${accessFile()}.1`).some((l) => l.includes('after.not-allowed.test')));
  // Every line in the renamed audit file came before the signal: no session of after it.
  const newSessions = new Set(lines(auditFile()).map(sessionOf).filter(Boolean));
  assert.ok(newSessions.size > 0);
  assert.ok(!lines(`${auditFile()}.1`).some((l) => newSessions.has(sessionOf(l))));
});

test('POST /api/logs/reopen does the same, token-protected, and names the files', async () => {
  const refused = await lab.api('POST', '/api/logs/reopen', undefined, null);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'GH_ERR_ADMIN_UNAUTHORIZED');

  fs.renameSync(auditFile(), `${auditFile()}.2`);
  fs.renameSync(accessFile(), `${accessFile()}.2`);
  const r = await lab.api('POST', '/api/logs/reopen');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.failed, []);
  assert.equal(r.body.reopened.length, 2);
  await deniedRequest('api');
  await ping(ports.full);
  await waitForLine(accessFile(), (l) => l.includes('api.not-allowed.test'));
  await waitForLine(auditFile(), (l) => (JSON.parse(l) as Line).event === 'closed');
  assert.ok(!lines(`${accessFile()}.2`).some((l) => l.includes('api.not-allowed.test')));
});

test('a file that cannot be opened again: 500 GH_ERR_LOG_REOPEN, and lines keep going to the old file', async (t) => {
  // The directory of the logs is made unwritable for a moment (root ignores modes, so the
  // directory is swapped for a file instead).
  const moved = `${dir}-moved`;
  fs.renameSync(dir, moved);
  t.after(() => {
    if (fs.existsSync(moved)) {
      fs.rmSync(dir, { force: true });
      fs.renameSync(moved, dir);
    }
  });
  fs.writeFileSync(dir, 'not a directory');
  const r = await lab.api('POST', '/api/logs/reopen');
  fs.rmSync(dir);
  fs.renameSync(moved, dir);
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, 'GH_ERR_LOG_REOPEN');
  await deniedRequest('still');
  await waitForLine(accessFile(), (l) => l.includes('still.not-allowed.test'));
});

test('connectionLog: summary writes one closed line per session, with the admission; full writes three', async () => {
  await ping(ports.summary);
  const summaryId = await lastSessionOn(ports.summary);
  await ping(ports.full);
  const fullId = await lastSessionOn(ports.full);
  const of = (id: string) =>
    lines(auditFile())
      .map((l) => JSON.parse(l) as Line)
      .filter((e) => e.session === id);
  const one = of(summaryId);
  assert.deepEqual(
    one.map((e) => e.event),
    ['closed'],
  );
  assert.equal(one[0]!.allowed, true);
  assert.match(String(one[0]!.rule), /from 127\.0\.0\.0\/8$/);
  assert.match(String(one[0]!.where), /gatehouse\.yaml:4$/);
  assert.equal(one[0]!.reason, 'client_closed');
  assert.ok(Number(one[0]!.bytesToClient) > 0);
  assert.deepEqual(
    of(fullId).map((e) => e.event),
    ['accepted', 'dialed', 'closed'],
  );
});

test('connectionLog: summary still writes every refusal as denied', async () => {
  // ports.denied is not in the group's ingress rule: refused before a byte.
  const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.denied), 'PING']);
  assert.notEqual(r.stdout.trim(), 'PONG');
  await waitForLine(auditFile(), (l) => {
    const e = JSON.parse(l) as Line;
    return e.event === 'denied' && String(e.listener).endsWith(`:${ports.denied}`);
  });
});

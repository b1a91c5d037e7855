// What a new user meets on the command line (issue 16, item 4), with the real CLI and daemon:
// explain with a bare port or a wildcard, --json answers, exit codes as --help states them, one
// pass of validate with the file warnings, the admin verbs' target, terminate of an unknown id, a
// part that cannot start, and the operational log's format.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { freePort, run, startRedis, stopProcess, track, type Server } from '../helpers/procs.js';
import { CLI, ROOT, withWorkers } from '../helpers/gatehouse.js';
import { startAdminLab, type AdminLab } from '../helpers/admin-lab.js';
import { tempDir } from '../helpers/temp.js';

const work = tempDir({ after }, 'gh-cli-');
const EXAMPLE = path.join(ROOT, 'examples', 'gatehouse.yaml');
const gh = (args: string[], cwd = work, env: Record<string, string> = {}) =>
  run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } });

let redis: Server;
let lab: AdminLab;
let fwd: number;

before(async () => {
  redis = await startRedis();
  fwd = await freePort();
  const admin = await freePort();
  const dir = path.join(work, 'daemon');
  fs.mkdirSync(dir);
  lab = await startAdminLab(
    `securityGroups:
  local:
    ingress:
      - { ports: '${fwd}', source: '127.0.0.0/8' }
portForwards:
  local:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: '${fwd}', target: '127.0.0.1:${redis.port}' }
admin:
  listen: '127.0.0.1:${admin}'
`,
    { dir },
  );
});

after(async () => {
  await lab?.gh.stop();
  await redis?.stop();
});

test('explain on the example config: a bare port and 0.0.0.0:PORT find the loopback listener', async () => {
  for (const to of ['16379', '0.0.0.0:16379', '127.0.0.1:16379']) {
    const r = await gh(['explain', '-c', EXAMPLE, '--from', '127.0.0.1', '--to', to]);
    assert.equal(r.code, 0, `${to}: ${r.stdout}${r.stderr}`);
    assert.match(
      r.stdout,
      /^ALLOWED {2}127\.0\.0\.1 → 127\.0\.0\.1:16379 \(portForwards\.local\.forwards\[0\]/,
    );
  }
  const denied = await gh(['explain', '-c', EXAMPLE, '--from', '10.1.2.3', '--to', '16379', '--json']);
  assert.equal(denied.code, 1);
  const answer = JSON.parse(denied.stdout) as {
    allowed: boolean;
    results: { steps: { decision: { reason: string } }[] }[];
  };
  assert.equal(answer.allowed, false);
  assert.equal(answer.results[0]!.steps[0]!.decision.reason, 'no_ingress_rule_matched');
  const none = await gh(['explain', '-c', EXAMPLE, '--from', '127.0.0.1', '--to', '0.0.0.0:6380']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /error GH_ERR_NO_LISTENER: no listener on 0\.0\.0\.0:6380/);
  assert.match(none.stderr, /127\.0\.0\.1:16379 \(portForwards\.local\.forwards\[0\]\)/);
});

test('exit codes are what --help says: usage errors are 2 on every command', async () => {
  const help = await gh(['explain', '--help']);
  assert.match(help.stdout, /Exit status: 0 allowed, 1 denied or no such listener, 2 bad usage/);
  const noFrom = await gh(['explain', '-c', EXAMPLE, '--to', '16379']);
  assert.equal(noFrom.code, 2);
  assert.match(noFrom.stderr, /required option '--from <ip>' not specified/);
  assert.equal((await gh(['validate'])).code, 2);
  assert.equal((await gh(['status', '--bogus'])).code, 2);
  assert.equal((await gh([])).code, 2);
  assert.equal((await gh(['--help'])).code, 0);
  const version = await gh(['--version']);
  assert.equal(version.code, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

test('validate: schema and reference problems in one pass, hints from the cwd, file warnings, --json', async () => {
  const sub = path.join(work, 'sub');
  fs.mkdirSync(sub);
  fs.writeFileSync(path.join(sub, 'allow.txt'), '*.example.com\n.example.org\n');
  fs.writeFileSync(
    path.join(sub, 'gatehouse.yaml'),
    `securityGroups:
  office:
    ingress:
      - { ports: 'x', source: '10.0.0.0/8' }
portForwards:
  nat:
    securityGroups: [offfice]
    forwards:
      - { listen: '6380', target: '10.0.0.1:6379' }
      - { listen: '6380', target: '10.0.0.2:6379' }
accessEndpoints:
  dev:
    listen: 8443
    serverCertificate: srv
`,
  );
  const bad = await gh(['validate', '-c', 'sub/gatehouse.yaml']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /sub\/gatehouse\.yaml:4: .*"x" is not a port/);
  assert.match(bad.stderr, /sub\/gatehouse\.yaml:7: security group "offfice" is not defined/);
  assert.match(bad.stderr, /sub\/gatehouse\.yaml:10: 0\.0\.0\.0:6380 is already a listener/);
  assert.match(bad.stderr, /run `gatehouse pki --pki sub\/pki build-server-full srv`/);
  const json = JSON.parse((await gh(['validate', '-c', 'sub/gatehouse.yaml', '--json'])).stdout) as {
    valid: boolean;
    problems: string[];
  };
  assert.equal(json.valid, false);
  assert.equal(json.problems.length, 4);

  fs.writeFileSync(
    path.join(sub, 'ok.yaml'),
    `egressProxies:\n  out:\n    listen: '127.0.0.1:3128'\n    allowlist: ./allow.txt\n`,
  );
  const ok = await gh(['validate', '-c', 'sub/ok.yaml']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /^sub\/allow\.txt:1: warning: "\*\.example\.com"/m);
  const okJson = JSON.parse((await gh(['validate', '-c', 'sub/ok.yaml', '--json'])).stdout) as {
    valid: boolean;
    warnings: string[];
  };
  assert.equal(okJson.valid, true);
  assert.ok(okJson.warnings.some((w) => w.startsWith('sub/allow.txt:1: warning:')));
});

test('the API explains a bare port, and says so when no listener is there', async () => {
  const ok = await lab.api('POST', '/api/explain', { from: '127.0.0.1', to: String(fwd) });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.results.length, 1);
  assert.equal(ok.body.results[0].listener.bind, `127.0.0.1:${fwd}`);
  const none = await lab.api('POST', '/api/explain', { from: '127.0.0.1', to: '9' });
  assert.equal(none.status, 404);
  assert.equal(none.body.error.code, 'GH_ERR_NO_LISTENER');
  assert.match(none.body.error.details[0], new RegExp(`127\\.0\\.0\\.1:${fwd}`));
});

test('admin verbs: --json, --verbose names config and address, terminate of an unknown id, no target', async () => {
  const dir = lab.gh.dir;
  for (const verb of ['status', 'sessions', 'audit']) {
    const r = await gh([verb, '--json'], dir);
    assert.equal(r.code, 0, `${verb}: ${r.stderr}`);
    JSON.parse(r.stdout);
  }
  const verbose = await gh(['status', '--verbose'], dir);
  assert.match(
    verbose.stderr,
    new RegExp(`config gatehouse\\.yaml; admin API ${lab.url} \\(from admin\\.listen of gatehouse\\.yaml\\)`),
  );

  const t = await gh(['terminate', 'nosuch'], dir);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /error GH_ERR_SESSION_NOT_FOUND: no session nosuch/);
  const api = await lab.api('DELETE', '/api/sessions/nosuch');
  assert.equal(api.status, 404);
  assert.equal(api.body.error.code, 'GH_ERR_SESSION_NOT_FOUND');

  const empty = path.join(work, 'empty');
  fs.mkdirSync(empty);
  const lost = await gh(['sessions'], empty, { GATEHOUSE_ADMIN_URL: '', GATEHOUSE_ADMIN_TOKEN: '' });
  assert.equal(lost.code, 1);
  assert.match(lost.stderr, /error GH_ERR_ADMIN_TARGET: no admin API to talk to/);
});

test('the operational log: ISO timestamps; the ready line names what is served and the console', async () => {
  const ready = await lab.gh.waitForLog((l) => l.msg === 'ready');
  assert.match(String(ready.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(ready.serving, [`portForward portForwards.local.forwards[0] on 127.0.0.1:${fwd}`]);
  assert.equal(ready.console, `${lab.url}/`);
});

/** Runs `serve` on a config in its own directory and resolves with its exit code and stderr, or at `ready`. */
async function serveUntil(
  config: string,
  args: string[] = [],
): Promise<{ code: number | null; stderr: string; ready: boolean }> {
  const dir = fs.mkdtempSync(path.join(work, 'serve-'));
  fs.writeFileSync(path.join(dir, 'gatehouse.yaml'), withWorkers(config));
  const child = track(
    spawn(process.execPath, [CLI, 'serve', '-c', 'gatehouse.yaml', ...args], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  const ready = new Promise<boolean>((resolve) => {
    readline.createInterface({ input: child.stderr! }).on('line', (l) => {
      stderr += `${l}\n`;
      if (/"msg":"ready"| INFO {2}ready /.test(l)) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  const isReady = await ready;
  if (isReady) await stopProcess(child);
  else if (child.exitCode === null) await once(child, 'exit');
  return { code: child.exitCode, stderr, ready: isReady };
}

test('a part that cannot listen fails the start, unless optional: true', async (t) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const other = await freePort();

  const admin = await serveUntil(`admin:\n  listen: '127.0.0.1:${port}'\n`);
  assert.equal(admin.ready, false);
  assert.equal(admin.code, 1);
  assert.match(
    admin.stderr,
    /error GH_ERR_SERVICE_START: the admin API and console \(admin\.listen\) did not start: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/,
  );
  const optionalAdmin = await serveUntil(`admin:\n  listen: '127.0.0.1:${port}'\n  optional: true\n`);
  assert.equal(optionalAdmin.ready, true, optionalAdmin.stderr);

  const forward = (optional: string) => `portForwards:
  p:
    address: 127.0.0.1${optional}
    forwards:
      - { listen: '${port}', target: '127.0.0.1:${redis.port}' }
      - { listen: '${other}', target: '127.0.0.1:${redis.port}' }
admin:
  enabled: false
`;
  const face = await serveUntil(forward(''));
  assert.equal(face.code, 1);
  assert.match(face.stderr, /error GH_ERR_LISTEN: cannot listen on 127\.0\.0\.1:\d+/);
  assert.match(face.stderr, /set optional: true on portForwards\.p/);
  const optionalFace = await serveUntil(forward('\n    optional: true'), ['--log-format', 'pretty']);
  assert.equal(optionalFace.ready, true, optionalFace.stderr);
  // Readable lines: time, level, message, fields.
  assert.match(optionalFace.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN .*not started \(optional: true\)/m);
  assert.match(
    optionalFace.stderr,
    new RegExp(
      `Z INFO  ready .*serving=\\["portForward portForwards\\.p\\.forwards\\[1\\] on 127\\.0\\.0\\.1:${other}"\\]`,
    ),
  );
});

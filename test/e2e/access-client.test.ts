// `gatehouse client-config` and `gatehouse connect` against the real daemon on loopback: a profile
// file, local forwards and SOCKS5 over one HTTP/2 session, and plain words on refusal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { freePort, run, startRedis, stopProcess, track, type Server } from '../helpers/procs.js';
import { CLI, clientConfig, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type TestPki } from '../helpers/access-pki.js';
import { parseProfile } from '../../src/access-client/profile.js';

let pki: TestPki;
let redis: Server;
let web: http.Server;
let webPort: number;
let gh: Gatehouse;
let tunnelPort: number;
let dir: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-client-'));
  pki = await mintPki(['DNS:gw.example.test', 'IP:127.0.0.1'], dir);
  await pki.client('alice', ['developers']);
  await pki.client('dave', ['developers']);
  redis = await startRedis();
  web = http.createServer((_req, res) => res.end('private web\n'));
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  webPort = (web.address() as AddressInfo).port;
  tunnelPort = await freePort();
  gh = await startGatehouse(
    `pki: ./pki
accessEndpoints:
  dev:
    listen: "0.0.0.0:${tunnelPort}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", ports: "${redis.port},${webPort}", groups: [developers] }
      - { target: "10.0.2.0/24", groups: [ops] }
admin:
  enabled: false
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop();
  await redis?.stop();
  web?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Connect {
  proc: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

function startConnect(profile: string, ...args: string[]): Connect {
  const proc = track(
    spawn(process.execPath, [CLI, 'connect', profile, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  const lines: string[] = [];
  let buf = '';
  const em = proc.stderr!;
  em.setEncoding('utf8');
  em.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return {
    proc,
    lines,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          const hit = lines.find((l) => re.test(l));
          if (hit) return resolve(hit);
          if (Date.now() > deadline || proc.exitCode !== null)
            return reject(new Error(`no line matching ${re}; have:\n${lines.join('\n')}`));
          em.once('data', check);
          setTimeout(check, 200).unref();
        };
        check();
      });
    },
  };
}

function profileFor(name: string) {
  return clientConfig(gh, 'dev', name, path.join(dir, `${name}.profile`));
}

test('client-config writes one 0600 profile with the endpoint, CA, certificate, key and reachable targets', async () => {
  const r = await profileFor('alice');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.statSync(r.out).mode & 0o777, 0o600);
  const p = parseProfile(fs.readFileSync(r.out, 'utf8'), r.out);
  assert.equal(p.address, `127.0.0.1:${tunnelPort}`); // the listen address is a wildcard: the server SAN
  assert.equal(p.commonName, 'alice');
  assert.deepEqual(p.groups, ['developers']);
  assert.deepEqual(p.targets, [`127.0.0.1/32 ports ${redis.port},${webPort}`]);
  assert.match(p.ca, /BEGIN CERTIFICATE/);
  assert.match(p.cert ?? '', /BEGIN CERTIFICATE/);
  assert.match(p.key ?? '', /PRIVATE KEY/);
  assert.match(r.stdout, /may reach: 127\.0\.0\.1\/32/);
});

test('client-config refuses an unknown endpoint and names the ones there are', async () => {
  const r = await clientConfig(gh, 'nope', 'alice', path.join(dir, 'x'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no access endpoint "nope".*defined: dev/);
});

test('connect: --forward and --socks carry redis-cli and curl; an unauthorized target is said plainly', async () => {
  const [fwd, socks, denied] = await Promise.all([freePort(), freePort(), freePort()]);
  const c = startConnect(
    path.join(dir, 'alice.profile'),
    '--forward',
    `${fwd}:127.0.0.1:${redis.port}`,
    '--forward',
    `${denied}:10.0.2.5:6379`,
    '--socks',
    String(socks),
  );
  try {
    await c.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${socks}: socks5`));
    const r = await run('redis-cli', ['-p', String(fwd), 'PING']);
    assert.equal(r.stdout.trim(), 'PONG', r.stderr + c.lines.join('\n'));
    const w = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--socks5-hostname',
      `127.0.0.1:${socks}`,
      `http://127.0.0.1:${webPort}/`,
    ]);
    assert.equal(w.stdout, 'private web\n', w.stderr);
    const no = await run('redis-cli', ['-p', String(denied), 'PING']);
    assert.notEqual(no.stdout.trim(), 'PONG');
    await c.waitFor(/not authorized for 10\.0\.2\.5:6379/);
    const blocked = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--socks5-hostname',
      `127.0.0.1:${socks}`,
      'http://127.0.0.1:1/',
    ]);
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /SOCKS5 connection .*\(2\)/); // reply 2: not allowed by ruleset
    // All of it over one TLS connection: one identity, many sessions. (Audit lines are written in
    // batches: wait for both sessions' lines rather than read what has arrived so far.)
    for (const port of [redis.port, webPort])
      await gh.waitForAudit(
        (l) => l.event === 'accepted' && l.commonName === 'alice' && String(l.target).endsWith(`:${port}`),
      );
    const accepted = gh.audit.filter((l) => l.event === 'accepted' && l.commonName === 'alice');
    assert.ok(accepted.length >= 2);
    assert.equal(new Set(accepted.map((l) => l.connectionId)).size, 1);
  } finally {
    await stopProcess(c.proc);
  }
});

test('connect: a revoked certificate loses its session and connect says so and exits', async () => {
  const r = await profileFor('dave');
  assert.equal(r.code, 0, r.stderr);
  const fwd = await freePort();
  const c = startConnect(r.out, '--forward', `${fwd}:127.0.0.1:${redis.port}`);
  try {
    await c.waitFor(/listening on/);
    const ok = await run('redis-cli', ['-p', String(fwd), 'PING']);
    assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
    await pki.revoke('dave');
    // Each worker process loads the CRL itself, and connect's session may live on any of them:
    // wait for every one (with workers: 2 the first one's line came before the other had it).
    const processes = Number(process.env.GATEHOUSE_TEST_WORKERS ?? 1);
    const loaded = new Set<unknown>();
    await gh.waitForLog((l) => {
      if (l.msg === 'CRL loaded' && Number(l.revoked) >= 1) loaded.add(l.worker ?? l.pid);
      return loaded.size >= processes;
    });
    const after = await run('redis-cli', ['-p', String(fwd), 'PING']);
    assert.notEqual(after.stdout.trim(), 'PONG');
    await c.waitFor(/your client certificate is revoked/);
    // waitFor polls: the process may be gone already, and 'exit' is not emitted twice.
    const [code] = c.proc.exitCode !== null ? [c.proc.exitCode] : ((await once(c.proc, 'exit')) as [number]);
    assert.equal(code, 1);
  } finally {
    await stopProcess(c.proc);
  }
});

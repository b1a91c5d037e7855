// Limits on every listener, reached by real clients on loopback (sources 127.0.0.x bound by the
// test): open connections per source and per listener and the accept rate on port forwards to
// redis-server, requests plus tunnels per principal and per proxy on an egress proxy, sessions per
// certificate on an access endpoint's mTLS direct listener. Each refusal is checked on the wire,
// in the audit line (reason, the limit as written, FILE:LINE of its key) and in the log, while
// another client keeps working (redis-cli, curl).
//
// With GATEHOUSE_TEST_WORKERS=W each worker enforces its share (limit / W, rounded up): the limits
// here are W, a share of 1 per worker, and each test opens W + 1, so at least one is refused
// whichever workers the connections land on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { execFileP, freePort, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';

const W = Number(process.env.GATEHOUSE_TEST_WORKERS ?? '1');

let dir: string;
let redis: Server;
let pki: TestPki;
let alice: ClientFiles;
let bob: ClientFiles;
let gh: Gatehouse;
let config: string;
let origin: http.Server;
let originPort: number;
const held = new Set<net.Socket>();
const ports = { perSource: 0, perListener: 0, rate: 0, egress: 0, egressAll: 0, direct: 0 };

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-limits-'));
  pki = await mintPki(['IP:127.0.0.1'], dir);
  alice = await pki.client('alice', ['developers']);
  bob = await pki.client('bob', ['developers']);
  redis = await startRedis();
  // An origin that answers once the test is done: requests and tunnels stay open meanwhile.
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  const egress = (name: string, port: number, limits: string) => `  ${name}:
    listen: "127.0.0.1:${port}"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: "1-65535"
    limits:
${limits}`;
  config = `pki: ./pki
portForwards:
  per-source:
    address: 127.0.0.1
    limits:
      maxConnectionsPerSource: ${W}
      acceptRate: 0
    forwards:
      - { listen: "${ports.perSource}", target: "127.0.0.1:${redis.port}" }
  per-listener:
    address: 127.0.0.1
    limits:
      maxConnections: ${W}
      acceptRate: 0
    forwards:
      - { listen: "${ports.perListener}", target: "127.0.0.1:${redis.port}" }
  rate:
    address: 127.0.0.1
    limits:
      acceptRate: 1/m
      acceptBurst: ${W}
    forwards:
      - { listen: "${ports.rate}", target: "127.0.0.1:${redis.port}" }
egressProxies:
${egress('per-principal', ports.egress, `      maxConcurrentPerPrincipal: ${W}`)}
${egress('per-proxy', ports.egressAll, `      maxConcurrent: ${W}`)}
accessEndpoints:
  dev:
    listen: "127.0.0.1:${await freePort()}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.direct}", target: "127.0.0.1:${redis.port}" }
    limits:
      maxSessionsPerCertificate: ${W}
admin:
  enabled: false
audit:
  store: none
`;
  gh = await startGatehouse(config, { dir });
});

after(async () => {
  for (const s of held) s.destroy();
  await gh?.stop();
  await redis?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The line of `key:` under the section that starts at `section` in the config the test wrote. */
function lineOf(section: string, key: string): number {
  const lines = config.split('\n');
  const from = lines.findIndex((l) => l.trim() === section);
  return from + lines.slice(from).findIndex((l) => l.trim().startsWith(`${key}:`)) + 1;
}

/** The first reply of `socket` to what was written (up to CRLF), or '' when it closed (a reset) first. */
function firstReply(socket: net.Socket | tls.TLSSocket, until = '\r\n'): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes(until)) {
        socket.removeListener('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(got));
  });
}

/** A redis PING over a connection from `localAddress`, kept open (held) when it was answered. */
async function heldPing(port: number, localAddress: string): Promise<boolean> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  s.on('error', () => {});
  held.add(s);
  const connected = await once(s, 'connect').then(
    () => true,
    () => false,
  );
  if (!connected) return false;
  s.write('PING\r\n');
  const ok = (await firstReply(s)) === '+PONG\r\n';
  if (!ok) s.destroy();
  return ok;
}

function releaseAll(): void {
  for (const s of held) s.destroy();
  held.clear();
}

async function redisCli(port: number): Promise<string> {
  const { stdout } = await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING']);
  return stdout.trim();
}

/** Opens `n` connections one after another (each answered ones held); how many were answered. */
async function openMany(n: number, port: number, source: (i: number) => string): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if (await heldPing(port, source(i))) ok++;
  return ok;
}

test('maxConnectionsPerSource: the source past its limit is reset and audited; another source is served', async () => {
  const ok = await openMany(W + 1, ports.perSource, () => '127.0.0.11');
  assert.ok(ok >= 1 && ok <= W, `${ok} of ${W + 1} admitted`);
  const denied = await gh.waitForAudit(
    (l) => l.event === 'denied' && l.reason === 'max_connections_per_source',
  );
  assert.match(String(denied.source), /^127\.0\.0\.11:\d+$/);
  assert.equal(denied.face, 'portForward');
  assert.match(String(denied.rule), new RegExp(`^maxConnectionsPerSource ${W}`));
  assert.equal(denied.where, `${gh.configPath}:${lineOf('per-source:', 'maxConnectionsPerSource')}`);
  const log = await gh.waitForLog(
    (l) => l.msg === 'limit reached; refused' && l.reason === 'max_connections_per_source',
  );
  assert.equal(log.face, 'portForward');
  // Another client (redis-cli from 127.0.0.1) is served on the same listener meanwhile.
  assert.equal(await redisCli(ports.perSource), 'PONG');
  releaseAll();
});

test('maxConnections: the listener past its limit resets the next client; served again once one closes', async () => {
  const ok = await openMany(W + 1, ports.perListener, (i) => `127.0.0.${21 + i}`);
  assert.ok(ok >= 1 && ok <= W, `${ok} of ${W + 1} admitted`);
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'max_connections');
  assert.match(String(denied.rule), new RegExp(`^maxConnections ${W}`));
  assert.equal(denied.where, `${gh.configPath}:${lineOf('per-listener:', 'maxConnections')}`);
  // Another listener keeps serving while this one is full.
  assert.equal(await redisCli(ports.perSource), 'PONG');
  releaseAll();
  // Closed connections give their places back (the daemon sees the close after the client does).
  let pong = '';
  for (let i = 0; i < 50 && pong !== 'PONG'; i++) pong = await redisCli(ports.perListener).catch(() => '');
  assert.equal(pong, 'PONG');
});

test('acceptRate: a source opening connections faster than its bucket refills is reset; another source is not', async () => {
  // Each connection closed at once: only the rate (1/m, a bucket of one per worker) can refuse.
  let ok = 0;
  for (let i = 0; i < W + 1; i++) {
    if (await heldPing(ports.rate, '127.0.0.31')) ok++;
    releaseAll();
  }
  assert.ok(ok <= W, `${ok} of ${W + 1} admitted`);
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'accept_rate');
  assert.match(String(denied.source), /^127\.0\.0\.31:\d+$/);
  assert.match(String(denied.rule), /^acceptRate 0\.017\/s, burst \d+/);
  assert.equal(denied.where, `${gh.configPath}:${lineOf('rate:', 'acceptRate')}`);
  await gh.waitForLog((l) => l.msg === 'limit reached; refused' && l.reason === 'accept_rate');
  assert.equal(await heldPing(ports.rate, '127.0.0.32'), true);
  releaseAll();
});

/** A CONNECT tunnel to the origin from `localAddress`: the status line and headers of the answer. */
async function tunnel(port: number, localAddress: string): Promise<string> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  s.on('error', () => {});
  held.add(s);
  await once(s, 'connect');
  s.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
  return firstReply(s, '\r\n\r\n');
}

async function curl(proxyPort: number): Promise<string> {
  const { stdout } = await execFileP('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-x',
    `http://127.0.0.1:${proxyPort}`,
    `http://127.0.0.1:${originPort}/`,
  ]);
  return stdout;
}

test('egress maxConcurrentPerPrincipal: tunnels past the limit answer 503 with the reason; another principal is served', async () => {
  const answers: string[] = [];
  for (let i = 0; i < W + 1; i++) answers.push(await tunnel(ports.egress, '127.0.0.41'));
  const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503 '));
  assert.ok(refused.length >= 1, answers.join('\n'));
  assert.match(refused[0]!, /\r\nX-Gatehouse-Reason: max_concurrent_per_principal\r\n/);
  assert.ok(
    answers.some((a) => a.startsWith('HTTP/1.1 200 ')),
    answers.join('\n'),
  );
  const denied = await gh.waitForAudit(
    (l) => l.event === 'denied' && l.reason === 'max_concurrent_per_principal',
  );
  assert.equal(denied.face, 'egressProxy');
  assert.match(String(denied.rule), new RegExp(`^maxConcurrentPerPrincipal ${W}`));
  assert.equal(denied.where, `${gh.configPath}:${lineOf('per-principal:', 'maxConcurrentPerPrincipal')}`);
  await gh.waitForLog(
    (l) => l.msg === 'limit reached; refused' && l.reason === 'max_concurrent_per_principal',
  );
  // curl from 127.0.0.1 is another principal: served while 127.0.0.41 is at its limit.
  assert.equal(await curl(ports.egress), '200');
  releaseAll();
});

test('egress maxConcurrent: the proxy past its limit answers 503 whoever asks; served again after', async () => {
  const answers: string[] = [];
  for (let i = 0; i < W + 1; i++) answers.push(await tunnel(ports.egressAll, `127.0.0.${51 + i}`));
  const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503 '));
  assert.ok(refused.length >= 1, answers.join('\n'));
  assert.match(refused[0]!, /\r\nX-Gatehouse-Reason: max_concurrent\r\n/);
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'max_concurrent');
  assert.equal(denied.where, `${gh.configPath}:${lineOf('per-proxy:', 'maxConcurrent')}`);
  // The other proxy serves meanwhile; this one again once the tunnels close.
  assert.equal(await curl(ports.egress), '200');
  releaseAll();
  let code = '';
  for (let i = 0; i < 50 && code !== '200'; i++) code = await curl(ports.egressAll);
  assert.equal(code, '200');
});

/** A redis PING over mTLS to the direct listener with `who`'s certificate, the connection held. */
async function tlsPing(who: ClientFiles): Promise<string> {
  const s = tls.connect({
    host: '127.0.0.1',
    port: ports.direct,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(who.cert),
    key: fs.readFileSync(who.key),
  });
  s.on('error', () => {});
  held.add(s as unknown as net.Socket);
  await once(s, 'secureConnect');
  s.write('PING\r\n');
  return firstReply(s);
}

test('access maxSessionsPerCertificate: a certificate past its limit is refused with the reason; another certificate is served', async () => {
  const replies: string[] = [];
  for (let i = 0; i < W + 1; i++) replies.push(await tlsPing(alice));
  assert.ok(
    replies.some((r) => r === '+PONG\r\n'),
    replies.join(' | '),
  );
  const refused = replies.filter((r) => r.startsWith('-'));
  assert.ok(refused.length >= 1, replies.join(' | '));
  assert.match(refused[0]!, /^-ERR gatehouse: 503 /);
  const denied = await gh.waitForAudit(
    (l) => l.event === 'denied' && l.reason === 'max_sessions_per_certificate',
  );
  assert.equal(denied.identity, 'alice');
  assert.match(String(denied.rule), new RegExp(`^maxSessionsPerCertificate ${W}`));
  assert.equal(denied.where, `${gh.configPath}:${lineOf('dev:', 'maxSessionsPerCertificate')}`);
  await gh.waitForLog(
    (l) => l.msg === 'limit reached; refused' && l.reason === 'max_sessions_per_certificate',
  );
  // bob's certificate, with redis-cli over TLS, is served while alice is at her limit.
  const { stdout } = await execFileP('redis-cli', [
    '--tls',
    '--cacert',
    pki.ca,
    '--cert',
    bob.cert,
    '--key',
    bob.key,
    '-h',
    '127.0.0.1',
    '-p',
    String(ports.direct),
    'PING',
  ]);
  assert.equal(stdout.trim(), 'PONG');
  releaseAll();
});

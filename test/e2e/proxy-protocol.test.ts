// PROXY protocol v2 behind Debian's HAProxy (`send-proxy-v2`, `check-send-proxy` health checks),
// on loopback: clients bound to 127.0.0.23 (admitted) and 127.0.0.24 (refused) through HAProxy;
// a forged header straight from an untrusted address; a trusted peer with no header, a malformed
// one, a slow one; LOCAL health checks; the TLS direct listener and the egress proxy behind the
// same balancer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { freePort, run, startRedis, stopProcess, track, waitForPort, type Server } from '../helpers/procs.js';
import { CLI, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { encodeProxyV2 } from '../helpers/proxy-v2-encoder.js';

let dir: string;
let redis: Server;
let pki: TestPki;
let alice: ClientFiles;
let gh: Gatehouse;
let haproxy: ChildProcess;
let origin: http.Server;
let originPort: number;
const ports = { forward: 0, direct: 0, tunnel: 0, egress: 0, haForward: 0, haDirect: 0, haEgress: 0 };

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-proxy-protocol-'));
  pki = await mintPki(['IP:127.0.0.1', 'DNS:localhost'], dir);
  alice = await pki.client('alice', ['developers']);
  redis = await startRedis();
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  gh = await startGatehouse(
    `pki: ./pki
securityGroups:
  clients:
    ingress:
      # the client admitted, and the balancer itself (its LOCAL health checks)
      - { protocol: tcp, ports: all, source: "127.0.0.23/32" }
      - { protocol: tcp, ports: all, source: "127.0.0.1/32" }
portForwards:
  behind-lb:
    address: 127.0.0.1
    securityGroups: [clients]
    proxyProtocol: v2
    trustedProxies: ["127.0.0.1/32"]
    forwards:
      - { listen: "${ports.forward}", target: "127.0.0.1:${redis.port}" }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${ports.tunnel}"
    serverCertificate: server
    securityGroups: [clients]
    proxyProtocol: v2
    trustedProxies: ["127.0.0.1/32"]
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.direct}", target: "127.0.0.1:${redis.port}" }
egressProxies:
  out:
    listen: "127.0.0.1:${ports.egress}"
    securityGroups: [clients]
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    accessLog: ./access.log
    proxyProtocol: v2
    trustedProxies: ["127.0.0.1/32"]
admin:
  enabled: false
audit:
  store: none
`,
    { dir },
  );
  const cfg = path.join(dir, 'haproxy.cfg');
  const backend = (name: string, front: number, back: number) => `
frontend fe_${name}
  bind 127.0.0.1:${front}
  default_backend be_${name}
backend be_${name}
  server gh 127.0.0.1:${back} send-proxy-v2 check check-send-proxy inter 300ms`;
  fs.writeFileSync(
    cfg,
    `global
  maxconn 1000
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
${backend('forward', ports.haForward, ports.forward)}
${backend('direct', ports.haDirect, ports.direct)}
${backend('egress', ports.haEgress, ports.egress)}
`,
  );
  haproxy = track(spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' }));
  for (const p of [ports.haForward, ports.haDirect, ports.haEgress]) await waitForPort(p);
});

after(async () => {
  if (haproxy) await stopProcess(haproxy);
  await gh?.stop();
  await redis?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A redis PING from `localAddress` to `port`; resolves with the reply, or '' when closed first. */
async function pingFrom(localAddress: string, port: number, prefix?: Buffer): Promise<string> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  s.on('error', () => {});
  // Refused before the connect completed (reset at once): nothing was answered.
  const connected = await once(s, 'connect').then(
    () => true,
    () => false,
  );
  if (!connected) return '';
  s.write(prefix ? Buffer.concat([prefix, Buffer.from('PING\r\n')]) : 'PING\r\n');
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.endsWith('\r\n')) {
        s.destroy();
        resolve(got);
      }
    });
    s.once('close', () => resolve(got));
  });
}

test('a client at 127.0.0.23 through HAProxy is admitted by its own address; the audit names the balancer', async () => {
  assert.equal(await pingFrom('127.0.0.23', ports.haForward), '+PONG\r\n');
  const accepted = await gh.waitForAudit(
    (l) => l.event === 'accepted' && l.face === 'portForward' && String(l.source).startsWith('127.0.0.23:'),
  );
  assert.match(String(accepted.via), /^127\.0\.0\.1:\d+$/);
  assert.equal(accepted.reason, 'ingress_rule_matched');
});

test('a client at 127.0.0.24 through HAProxy is refused by the security group, under its own address', async () => {
  assert.equal(await pingFrom('127.0.0.24', ports.haForward), '');
  const denied = await gh.waitForAudit(
    (l) => l.event === 'denied' && l.face === 'portForward' && String(l.source).startsWith('127.0.0.24:'),
  );
  assert.equal(denied.reason, 'no_ingress_rule_matched');
  assert.match(String(denied.via), /^127\.0\.0\.1:\d+$/);
});

test('a forged header straight from an untrusted address is closed unread', async () => {
  const forged = encodeProxyV2({ source: { address: '127.0.0.23', port: 1234 } });
  assert.equal(await pingFrom('127.0.0.5', ports.forward, forged), '');
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'proxy_untrusted');
  assert.match(String(denied.source), /^127\.0\.0\.5:\d+$/);
  await gh.waitForLog(
    (l) => l.msg === 'PROXY header refused; connection closed' && l.reason === 'proxy_untrusted',
  );
  // Nothing of it was relayed: no session for the forged address.
  assert.equal(gh.audit.filter((l) => l.event === 'accepted' && l.source === '127.0.0.23:1234').length, 0);
});

test('from the trusted balancer: no header, a malformed one, a slow one each close the connection', async () => {
  assert.equal(await pingFrom('127.0.0.1', ports.forward), '');
  await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'proxy_header_missing');
  const bad = encodeProxyV2({ versionByte: 0x23 });
  assert.equal(await pingFrom('127.0.0.1', ports.forward, bad), '');
  const invalid = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'proxy_header_invalid');
  assert.match(String(invalid.error), /command/);
  // Half a signature, then silence: closed after the header timeout (3 s), never relayed.
  const slow = net.connect({ host: '127.0.0.1', port: ports.forward });
  slow.on('error', () => {});
  await once(slow, 'connect');
  slow.write(encodeProxyV2().subarray(0, 6));
  await once(slow, 'close');
  await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'proxy_header_timeout');
});

test("LOCAL health checks (HAProxy's check-send-proxy, and one that closes at once) crash nothing", async () => {
  // A LOCAL header and an immediate close, as a check does: the socket's address was read first.
  const s = net.connect({ host: '127.0.0.1', port: ports.forward });
  s.on('error', () => {});
  await once(s, 'connect');
  s.end(encodeProxyV2({ command: 'local' }));
  await once(s, 'close');
  // HAProxy has checked each backend several times (every 300 ms) by now; the daemon still serves.
  await gh.waitForAudit(
    (l) => l.event === 'closed' && l.face === 'portForward' && String(l.source).startsWith('127.0.0.1:'),
  );
  assert.equal(gh.proc.exitCode, null);
  assert.equal(await pingFrom('127.0.0.23', ports.haForward), '+PONG\r\n');
  assert.equal(
    gh.logs.filter((l) => Number(l.level) >= 50).length,
    0,
    JSON.stringify(gh.logs.filter((l) => Number(l.level) >= 50)),
  );
});

test('the mTLS direct listener behind HAProxy: the TLS handshake follows the header, the connection log has the client', async () => {
  const raw = net.connect({ host: '127.0.0.1', port: ports.haDirect, localAddress: '127.0.0.23' });
  const s = tls.connect({
    socket: raw,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
    servername: 'localhost',
  });
  s.on('error', () => {});
  await once(s, 'secureConnect');
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  assert.equal(d.toString(), '+PONG\r\n');
  s.destroy();
  const accepted = await gh.waitForAudit(
    (l) => l.event === 'accepted' && l.face === 'accessEndpoint' && l.commonName === 'alice',
  );
  assert.equal(accepted.clientIp, '127.0.0.23');
  assert.match(String(accepted.via), /^127\.0\.0\.1:\d+$/);
});

test('the egress proxy behind HAProxy logs and decides on the client address', async () => {
  const r = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--interface',
    '127.0.0.23',
    '-x',
    `http://127.0.0.1:${ports.haEgress}`,
    `http://127.0.0.1:${originPort}/via-lb`,
  ]);
  assert.equal(r.stdout, '200', r.stderr);
  const deadline = Date.now() + 5000;
  let log = '';
  while (!log.includes('/via-lb') && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 50));
    log = fs.existsSync(path.join(dir, 'access.log'))
      ? fs.readFileSync(path.join(dir, 'access.log'), 'utf8')
      : '';
  }
  assert.match(log, /^\d+\.\d{3} +\d+ 127\.0\.0\.23 TCP_MISS\/200 .*\/via-lb/m);
  const refused = await run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '--interface',
    '127.0.0.24',
    '-x',
    `http://127.0.0.1:${ports.haEgress}`,
    `http://127.0.0.1:${originPort}/refused`,
  ]);
  assert.equal(refused.stdout, '000');
});

test('explain takes --from as the client address a PROXY header names, and says so', async () => {
  const r = await run(process.execPath, [
    CLI,
    'explain',
    '-c',
    gh.configPath,
    '--from',
    '127.0.0.23',
    '--to',
    `127.0.0.1:${ports.forward}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ALLOWED {2}127\.0\.0\.23 → /);
  assert.match(r.stdout, /proxy +a PROXY v2 header from 127\.0\.0\.1\/32 must come first/);
  const refused = await run(process.execPath, [
    CLI,
    'explain',
    '-c',
    gh.configPath,
    '--from',
    '127.0.0.24',
    '--to',
    `127.0.0.1:${ports.forward}`,
  ]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /^DENIED/);
});

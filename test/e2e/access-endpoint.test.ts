// Access endpoints on loopback with the real daemon: mTLS with a PKI minted per run, direct TLS
// listeners (redis-cli --tls), the CONNECT tunnel (curl over HTTP/1.1, Node over HTTP/2), groups,
// revocation with live sessions, a broken CRL, the session timeout and the connection log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { tempDir } from '../helpers/temp.js';
import { FIRST_REQUEST_MS } from '../../src/faces/access/tunnel.js';

let pki: TestPki;
let redis: Server;
let web: http.Server;
let webPort: number;
let gh: Gatehouse;
let tunnelPort: number, directPort: number, shortPort: number, shortTunnel: number, deadPort: number;
let alice: ClientFiles, bob: ClientFiles, mallory: ClientFiles, carol: ClientFiles;
let dir: string | undefined;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-e2e-'));
  pki = await mintPki(['IP:127.0.0.1', 'DNS:localhost'], dir);
  alice = await pki.client('alice', ['developers']);
  bob = await pki.client('bob', ['ops']);
  mallory = await pki.client('mallory', ['developers']);
  carol = await pki.client('carol', ['developers']);
  redis = await startRedis();
  web = http.createServer((_req, res) => res.end('hello from the private web\n'));
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  webPort = (web.address() as AddressInfo).port;
  [tunnelPort, directPort, shortPort, shortTunnel, deadPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  gh = await startGatehouse(
    `pki: ./pki
accessEndpoints:
  dev:
    listen: "127.0.0.1:${tunnelPort}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", ports: "${redis.port},${webPort},${deadPort}", groups: [developers] }
      - { target: "127.0.0.2/32", allGroups: true }
    directListeners:
      - { listen: "127.0.0.1:${directPort}", target: "127.0.0.1:${redis.port}" }
  short:
    listen: "127.0.0.1:${shortTunnel}"
    serverCertificate: server
    sessionTimeout: 1s
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${shortPort}", target: "127.0.0.1:${redis.port}" }
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

function redisCli(c: ClientFiles | undefined, port: number, ...args: string[]) {
  const certArgs = c ? ['--cert', c.cert, '--key', c.key] : [];
  return run('redis-cli', [
    '--tls',
    ...certArgs,
    '--cacert',
    pki.ca,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    ...args,
  ]);
}

function curl(c: ClientFiles | undefined, url: string) {
  const certArgs = c ? ['--proxy-cert', c.cert, '--proxy-key', c.key] : [];
  return run('curl', [
    '-sS',
    '-p',
    '--max-time',
    '5',
    '--proxy',
    `https://127.0.0.1:${tunnelPort}`,
    '--proxy-cacert',
    pki.ca,
    ...certArgs,
    '-w',
    '\n%{http_connect}',
    url,
  ]);
}

test('redis-cli --tls reaches the target through a direct listener; the connection log says who', async () => {
  const r = await redisCli(alice, directPort, 'SET', 'k', 'v');
  assert.equal(r.stdout.trim(), 'OK', r.stderr);
  const g = await redisCli(alice, directPort, 'GET', 'k');
  assert.equal(g.stdout.trim(), 'v', g.stderr);
  const accepted = await gh.waitForAudit((l) => l.event === 'accepted' && l.commonName === 'alice');
  assert.equal(accepted.face, 'accessEndpoint');
  assert.equal(accepted.endpoint, 'dev');
  assert.equal(accepted.clientIp, '127.0.0.1');
  assert.equal(typeof accepted.clientPort, 'number');
  assert.equal(accepted.serial, alice.serial.replace(/^0+/, ''));
  assert.equal(accepted.target, `127.0.0.1:${redis.port}`);
  assert.equal(accepted.status, 'succeeded');
  assert.match(String(accepted.where), /gatehouse\.yaml:7$/);
  const closed = await gh.waitForAudit((l) => l.event === 'closed' && l.session === accepted.session);
  assert.equal(closed.reason, 'client_closed');
  assert.ok(Number(closed.bytesFromClient) > 0 && Number(closed.bytesToClient) > 0);
  assert.ok(Date.parse(String(closed.endTime)) >= Date.parse(String(closed.startTime)));
});

test('a client without a certificate is refused with a RESP error, and the refusal is logged', async () => {
  const r = await redisCli(undefined, directPort, 'PING');
  assert.notEqual(r.stdout.trim(), 'PONG');
  assert.match(r.stdout + r.stderr, /no client certificate/);
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'no_certificate');
  assert.equal(denied.clientIp, '127.0.0.1');
});

test('curl --proxy https:// tunnels with CONNECT over HTTP/1.1', async () => {
  const r = await curl(alice, `http://127.0.0.1:${webPort}/`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /hello from the private web\n+200$/);
});

test('a target outside the client groups gets 403 with the reason', async () => {
  const r = await curl(bob, `http://127.0.0.1:${webPort}/`);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /403/);
  const denied = await gh.waitForAudit((l) => l.event === 'denied' && l.commonName === 'bob');
  assert.equal(denied.reason, 'not_in_authorized_group');
  assert.equal(denied.target, `127.0.0.1:${webPort}`);
});

/** alice's TLS connection to the tunnel, speaking HTTP/1.1. */
function aliceOverHttp1(): tls.TLSSocket {
  return tls.connect({
    host: '127.0.0.1',
    port: tunnelPort,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
    ALPNProtocols: ['http/1.1'],
  });
}

test('HTTP/1.1: a CONNECT without host:port is 400, any other method 405, each with its reason', async () => {
  const ask = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const s = aliceOverHttp1();
      let out = '';
      s.on('secureConnect', () => s.write(request));
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', reject);
    });
  const bad = await ask('CONNECT nowhere HTTP/1.1\r\nHost: nowhere\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400 /);
  assert.match(bad, /x-gatehouse-reason: bad_target/i);
  const get = await ask('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(get, /^HTTP\/1\.1 405 /);
  assert.match(get, /x-gatehouse-reason: method_not_allowed/i);
});

test('HTTP/1.1: a verified connection that sends no request is closed; one that did carries on', async () => {
  const open = () =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = aliceOverHttp1();
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  // A tunnel that asked at once: still open after the first-request timer would have run out.
  const busy = await open();
  busy.write(`CONNECT 127.0.0.1:${redis.port} HTTP/1.1\r\nHost: 127.0.0.1:${redis.port}\r\n\r\n`);
  let got = '';
  busy.setEncoding('latin1');
  busy.on('data', (d: string) => (got += d));
  const idle = await open();
  const closed = once(idle, 'close');
  const bound = new Promise((_, reject) =>
    setTimeout(
      () => reject(new Error('the idle connection was never closed')),
      FIRST_REQUEST_MS + 10_000,
    ).unref(),
  );
  await Promise.race([closed, bound]);
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.equal(busy.destroyed, false, 'the tunnel that sent its CONNECT was closed too');
  const pong = new Promise<void>((resolve) => busy.on('data', () => got.endsWith('+PONG\r\n') && resolve()));
  busy.write('PING\r\n');
  await pong;
  busy.end();
});

test('a target no rule covers is refused; a dead target is 502', async () => {
  const client = http2.connect(`https://127.0.0.1:${tunnelPort}`, {
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
  });
  try {
    const status = (authority: string) =>
      new Promise<{ status: number; reason: string }>((resolve, reject) => {
        const s = client.request({ ':method': 'CONNECT', ':authority': authority });
        s.on('response', (h) =>
          resolve({ status: Number(h[':status']), reason: String(h['x-gatehouse-reason']) }),
        );
        s.on('error', reject);
        s.resume();
      });
    assert.deepEqual(await status('10.99.0.1:6379'), {
      status: 403,
      reason: 'no_authorization_rule_matched',
    });
    assert.deepEqual(await status(`127.0.0.1:${deadPort}`), { status: 502, reason: 'GH_ERR_DIAL_REFUSED' });
  } finally {
    client.close();
  }
});

test('many concurrent CONNECT streams share one HTTP/2 session', async () => {
  const client = http2.connect(`https://127.0.0.1:${tunnelPort}`, {
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
  });
  try {
    const one = (i: number) =>
      new Promise<string>((resolve, reject) => {
        const s = client.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${redis.port}` });
        let out = '';
        s.on('response', (h) => {
          if (h[':status'] !== 200) reject(new Error(`status ${h[':status']}`));
          s.write(`ECHO stream-${i}\r\n`);
        });
        s.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.endsWith('\r\n')) s.end();
        });
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => one(i)));
    replies.forEach((r, i) => assert.equal(r, `$${`stream-${i}`.length}\r\nstream-${i}\r\n`));
  } finally {
    client.close();
  }
});

test('HTTP/2 flow-control windows are raised: a 4 MiB value goes through one CONNECT stream', async () => {
  const client = http2.connect(`https://127.0.0.1:${tunnelPort}`, {
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
    settings: { initialWindowSize: 4 * 1024 * 1024 },
  });
  try {
    await once(client, 'connect');
    const s = client.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${redis.port}` });
    const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    // The endpoint's session window (what this client may send before an update) is 32 MiB.
    assert.ok(client.state.remoteWindowSize! >= 16 * 1024 * 1024, `window ${client.state.remoteWindowSize}`);
    const big = 'x'.repeat(4 * 1024 * 1024);
    s.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${big.length}\r\n${big}\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n`);
    const want = `+OK\r\n$${big.length}\r\n${big}\r\n`.length;
    let got = 0;
    for await (const chunk of s as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got >= want) break;
    }
    assert.equal(got, want);
  } finally {
    client.close();
  }
});

test('a config reload changes the rules for new connections; the CRL watch carries on', async () => {
  const text = fs.readFileSync(gh.configPath, 'utf8');
  gh.writeConfig(
    text.replace(
      `ports: "${redis.port},${webPort},${deadPort}", groups: [developers]`,
      `ports: "${redis.port},${deadPort}", groups: [developers]`,
    ),
  );
  await gh.waitForLog((l) => l.msg === 'config reloaded');
  const r = await curl(alice, `http://127.0.0.1:${webPort}/`);
  assert.match(r.stdout + r.stderr, /403/);
  const ok = await redisCli(alice, directPort, 'PING');
  assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
  gh.writeConfig(text);
  await gh.waitForLog(
    (l) => l.msg === 'config reloaded' && gh.logs.filter((x) => x.msg === 'config reloaded').length >= 2,
  );
  const back = await curl(alice, `http://127.0.0.1:${webPort}/`);
  assert.match(back.stdout, /hello from the private web/);
});

function openRedisTls(c: ClientFiles, port: number, session?: Buffer): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(pki.ca),
      cert: fs.readFileSync(c.cert),
      key: fs.readFileSync(c.key),
      servername: 'localhost',
      ...(session ? { session } : {}),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function ping(s: tls.TLSSocket): Promise<string> {
  s.write('PING\r\n');
  const [d] = (await once(s, 'data')) as [Buffer];
  return d.toString();
}

test('an expired certificate and one from another CA are refused, told why, and logged', async (t) => {
  const old = await pki.expiredClient('oldtimer', ['developers']);
  const r = await redisCli(old, directPort, 'PING');
  assert.notEqual(r.stdout.trim(), 'PONG');
  assert.match(r.stdout + r.stderr, /expired/);
  const expired = await gh.waitForAudit((l) => l.event === 'denied' && l.commonName === 'oldtimer');
  assert.equal(expired.reason, 'expired');
  const other = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-access-other-ca-'));
  const stranger = await other.client('stranger', ['developers']);
  const c = await curl(stranger, `http://127.0.0.1:${webPort}/`);
  assert.match(c.stdout + c.stderr, /403/);
  const unknown = await gh.waitForAudit((l) => l.event === 'denied' && l.commonName === 'stranger');
  assert.equal(unknown.reason, 'unknown_ca');
  assert.equal(unknown.clientIp, '127.0.0.1');
});

/** Redis's own count of its client connections. */
async function redisClients(): Promise<number> {
  const r = await run('redis-cli', ['-p', String(redis.port), 'info', 'clients']);
  return Number(/connected_clients:(\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

test('clients that leave right after the handshake leave no target connection open', async () => {
  // Found under a handshake benchmark: a client that closed while its target was being dialed
  // left that target connection open for good. redis counts its clients (redis-cli is one).
  const before = await redisClients();
  for (let i = 0; i < 20; i++) {
    const s = await openRedisTls(alice, directPort);
    if (i % 2 === 0) s.end();
    else s.destroy();
  }
  const deadline = Date.now() + 5000;
  let now = await redisClients();
  while (now > before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = await redisClients();
  }
  assert.equal(now, before, `redis still has ${now - before} connections of clients long gone`);
});

test('revoking a certificate closes its live sessions within 1 s and refuses it afterwards', async () => {
  // A TLS session ticket from before the revocation, to try resuming with afterwards.
  const first = await openRedisTls(mallory, directPort);
  assert.equal(await ping(first), '+PONG\r\n');
  const ticket = first.getSession();
  first.destroy();
  assert.ok(ticket, 'the endpoint issues session tickets');
  const resumed = await openRedisTls(mallory, directPort, ticket);
  assert.equal(resumed.isSessionReused(), true);
  resumed.destroy();
  const live = await openRedisTls(mallory, directPort);
  assert.equal(await ping(live), '+PONG\r\n');
  const other = await openRedisTls(alice, directPort);
  assert.equal(await ping(other), '+PONG\r\n');
  const closed = once(live, 'close');
  const t0 = Date.now();
  await pki.revoke('mallory');
  await closed;
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `closed after ${elapsed} ms`);
  const log = await gh.waitForAudit(
    (l) => l.event === 'closed' && l.commonName === 'mallory' && l.reason === 'revoked',
  );
  assert.equal(log.target, `127.0.0.1:${redis.port}`);
  // Others carry on.
  assert.equal(await ping(other), '+PONG\r\n');
  other.destroy();
  const again = await redisCli(mallory, directPort, 'PING');
  assert.notEqual(again.stdout.trim(), 'PONG');
  assert.match(again.stdout + again.stderr, /revoked/);
  await gh.waitForAudit((l) => l.event === 'denied' && l.commonName === 'mallory' && l.reason === 'revoked');
  const c = await curl(mallory, `http://127.0.0.1:${webPort}/`);
  assert.match(c.stdout + c.stderr, /403/);
  // Resuming the old session does not get around the revocation.
  const sneaky = await openRedisTls(mallory, directPort, ticket);
  assert.match(await ping(sneaky), /^-ERR gatehouse: client certificate revoked/);
  sneaky.destroy();
});

test('a broken CRL is refused and logged; the last good one stays in force', async () => {
  const crl = `${pki.dir}/crl.pem`;
  const good = fs.readFileSync(crl, 'utf8');
  fs.writeFileSync(`${crl}.tmp`, '-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n');
  fs.renameSync(`${crl}.tmp`, crl);
  await gh.waitForLog((l) => String(l.msg).startsWith('CRL refused') && l.code === 'GH_ERR_ACCESS_CRL');
  const ok = await redisCli(alice, directPort, 'PING');
  assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
  const still = await redisCli(mallory, directPort, 'PING');
  assert.match(still.stdout + still.stderr, /revoked/);
  fs.writeFileSync(crl, good);
});

test('sessionTimeout closes sessions older than it', async () => {
  const s = await openRedisTls(carol, shortPort);
  assert.equal(await ping(s), '+PONG\r\n');
  await once(s, 'close');
  const closed = await gh.waitForAudit(
    (l) => l.event === 'closed' && l.commonName === 'carol' && l.endpoint === 'short',
  );
  assert.equal(closed.reason, 'session_timeout');
  assert.ok(Number(closed.durationMs) >= 1000);
});

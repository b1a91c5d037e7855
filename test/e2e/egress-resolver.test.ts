// The egress proxy's resolver against a DNS server of the test's own on loopback (dns-server.ts):
// answers within the timeout are served (a slow one too), a dead server's name is answered 504
// ERR_DNS_FAIL within resolver.timeout while other names keep resolving, concurrent lookups of one
// name are one question, answers and NXDOMAIN are cached (the server counts its questions), the
// hosts file is consulted first and read again when it changes. Also the host spellings Squid
// refuses: a percent-encoded host and userinfo are 400, in a URL and in a CONNECT authority.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { freePort } from '../helpers/procs.js';

let gh: Gatehouse | undefined;
let dns: DnsServer | undefined;
let origin: http.Server | undefined;
let originPort: number;
let proxyPort: number;
let dir: string;
let hostsFile: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-resolver-'));
  origin = http.createServer((req, res) => res.end(`origin ${req.headers.host}\n`));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  dns = await startDnsServer({
    'fast.test': { a: '127.0.0.1', ttl: 300 },
    'other.test': { a: '127.0.0.1', ttl: 300 },
    'slow.test': { a: '127.0.0.1', ttl: 300, delayMs: 400 },
    'together.test': { a: '127.0.0.1', ttl: 300, delayMs: 300 },
    'dead.test': { silent: true },
    'nx.test': { nxdomain: true },
  });
  hostsFile = path.join(dir, 'hosts');
  fs.writeFileSync(hostsFile, '127.0.0.1 localhost\n127.0.0.1 hosts.test # from the hosts file\n');
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '.test\n');
  proxyPort = await freePort();
  gh = await startGatehouse(
    `
# The cache is per process: counting the DNS server's questions needs one.
workers: 1
resolver:
  servers: ["127.0.0.1:${dns.port}"]
  timeout: 2s
  hostsFile: ./hosts
egressProxies:
  central:
    listen: "127.0.0.1:${proxyPort}"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
admin: { enabled: false }
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop();
  await dns?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  readonly status: number;
  readonly head: string;
}

/** One raw request to the proxy; the status line and headers of its answer. */
async function ask(text: string): Promise<Reply> {
  const s = net.connect(proxyPort, '127.0.0.1');
  s.write(text);
  let got = '';
  s.setEncoding('latin1');
  for await (const chunk of s) {
    got += chunk as string;
    if (got.includes('\r\n\r\n')) break;
  }
  s.destroy();
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0), head: got.split('\r\n\r\n')[0]! };
}

const get = (host: string) =>
  ask(
    `GET http://${host}:${originPort}/ HTTP/1.1\r\nHost: ${host}:${originPort}\r\nConnection: close\r\n\r\n`,
  );

test('a name is resolved once, then served from the cache', async () => {
  assert.equal((await get('fast.test')).status, 200);
  assert.equal((await get('fast.test')).status, 200);
  assert.equal(dns!.count('fast.test'), 1, 'the second request was answered from the cache');
});

test('a slow answer within the timeout is served', async () => {
  assert.equal((await get('slow.test')).status, 200);
});

test('concurrent lookups of one name are one question', async () => {
  const all = await Promise.all([get('together.test'), get('together.test'), get('together.test')]);
  assert.deepEqual(
    all.map((r) => r.status),
    [200, 200, 200],
  );
  assert.equal(dns!.count('together.test'), 1);
});

test('a dead DNS server is answered 504 ERR_DNS_FAIL while other names keep resolving', async () => {
  let deadDone = false;
  const dead = [get('dead.test'), get('dead.test')].map((p) => p.finally(() => (deadDone = true)));
  // While dead.test waits on its server, another name resolves and is served.
  assert.equal((await get('other.test')).status, 200);
  assert.equal(deadDone, false, 'other.test was served while dead.test was still waiting');
  for (const r of await Promise.all(dead)) {
    assert.equal(r.status, 504, r.head);
    assert.match(r.head, /X-Squid-Error: ERR_DNS_FAIL/);
    assert.match(r.head, /X-Gatehouse-Reason: GH_ERR_DNS_TIMEOUT/i);
  }
});

test('no such name is 502 ERR_DNS_FAIL, and the answer is cached briefly', async () => {
  const r = await get('nx.test');
  assert.equal(r.status, 502, r.head);
  assert.match(r.head, /X-Squid-Error: ERR_DNS_FAIL/);
  assert.equal((await get('nx.test')).status, 502);
  assert.equal(dns!.count('nx.test'), 1, 'the negative answer came from the cache');
});

test('the hosts file is consulted first, and read again when it changes', async () => {
  assert.equal((await get('hosts.test')).status, 200);
  assert.equal(dns!.count('hosts.test'), 0, 'no DNS question for a name in the hosts file');
  fs.writeFileSync(hostsFile, '127.0.0.1 hosts.test\n127.0.0.1 later.test\n');
  // The file is watched (directory events and a 1 s stat poll): ask until the change is seen.
  let status = 0;
  for (let i = 0; i < 60 && status !== 200; i++) {
    status = (await get('later.test')).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 200);
});

test('a percent-encoded host is 400 (as Squid), in a URL and in a CONNECT', async () => {
  const url = await get('fast%2etest');
  assert.equal(url.status, 400, url.head);
  assert.match(url.head, /X-Gatehouse-Reason: invalid_host/i);
  const tunnel = await ask('CONNECT fast%2etest:443 HTTP/1.1\r\nHost: fast%2etest:443\r\n\r\n');
  assert.equal(tunnel.status, 400, tunnel.head);
  assert.equal(dns!.count('fast%2etest') + dns!.count('fast.test'), 1, 'nothing was looked up for them');
});

test('userinfo in a request target stays refused', async () => {
  const url = await get('user:pw@fast.test');
  assert.equal(url.status, 400, url.head);
  const tunnel = await ask('CONNECT user@fast.test:443 HTTP/1.1\r\nHost: fast.test:443\r\n\r\n');
  assert.equal(tunnel.status, 400, tunnel.head);
});

test('the cache is bounded in names and by maxTtl (the resolver on its own)', async () => {
  const { NameResolver } = await import('../../src/faces/egress/name-resolver.js');
  const base = {
    servers: [`127.0.0.1:${dns!.port}`],
    timeout: 2000,
    negativeTtl: 30_000,
    hostsFile: undefined,
  };
  // One name at most: a second name pushes the first out.
  const small = new NameResolver({ ...base, cacheSize: 1, maxTtl: 300_000 });
  const before = dns!.count('fast.test');
  await small.lookup('fast.test');
  await small.lookup('other.test');
  await small.lookup('fast.test');
  assert.equal(dns!.count('fast.test') - before, 2, 'fast.test was evicted by other.test');
  small.close();
  // A ceiling of 0 keeps nothing, whatever the record's TTL (300 s here).
  const none = new NameResolver({ ...base, cacheSize: 100, maxTtl: 0 });
  const was = dns!.count('fast.test');
  await none.lookup('fast.test');
  await none.lookup('fast.test');
  assert.equal(dns!.count('fast.test') - was, 2);
  none.close();
});

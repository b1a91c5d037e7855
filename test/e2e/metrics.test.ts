// The health listener's /metrics with the real daemon (and again with workers: 2, where the
// primary sums its workers): a port forward to a real redis-server, an mTLS direct listener and
// tunnel with certificates of a PKI minted per run, a memcached cluster line, an egress proxy;
// allowed and denied traffic, a handshake with a certificate of another CA, refused dials, a good
// and a bad reload. Every count is asserted exactly, with its labels. Then /readyz: 200 while
// serving, 503 from SIGTERM on, while the daemon drains.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import tls from 'node:tls';
import { freePort, freePortRange, run, startMemcached, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { parseCrl } from '../../src/pki/crl.js';

let dir: string;
let pki: TestPki;
let alice: ClientFiles;
let stranger: ClientFiles;
let redis: Server;
let memcached: Server;
let origin: http.Server;
let originPort: number;
let gh: Gatehouse;
const ports = { forward: 0, fenced: 0, closed: 0, direct: 0, tunnel: 0, egress: 0, health: 0, mc: 0 };
let closedTarget: number;

function config(comment = ''): string {
  return `pki: ./pki
drainDelay: 3s
securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.0/8" }
  elsewhere:
    ingress:
      - { protocol: tcp, ports: all, source: "10.0.0.0/8" }
clusters:
  cache: { engine: memcached, nodes: ["127.0.0.1:${memcached.port}"] }
portForwards:
  main:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: "${ports.forward}", target: "127.0.0.1:${redis.port}" }
      - { listen: "${ports.closed}", target: "127.0.0.1:${closedTarget}" }
      - { listen: "${ports.mc}-${ports.mc + 1}", cluster: cache }
  fenced:
    address: 127.0.0.1
    securityGroups: [elsewhere]
    forwards:
      - { listen: "${ports.fenced}", target: "127.0.0.1:${redis.port}" }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${ports.tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", ports: "${redis.port}", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.direct}", target: "127.0.0.1:${redis.port}" }
egressProxies:
  out:
    listen: "127.0.0.1:${ports.egress}"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: all
    httpPorts: all
health:
  listen: "127.0.0.1:${ports.health}"
admin:
  enabled: false
audit:
  store: ./audit.db
${comment}`;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-metrics-e2e-'));
  pki = await mintPki(['IP:127.0.0.1'], dir);
  alice = await pki.client('alice', ['developers']);
  // A certificate of another CA: the handshake completes (the face verifies after it) and the
  // client is refused as unknown_ca.
  const other = await mintPki([], path.join(dir, 'other'));
  stranger = await other.client('stranger', ['developers']);
  redis = await startRedis();
  memcached = await startMemcached();
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as AddressInfo).port;
  for (const k of ['forward', 'fenced', 'closed', 'direct', 'tunnel', 'egress', 'health'] as const)
    ports[k] = await freePort();
  ports.mc = await freePortRange(2);
  closedTarget = await freePort(); // nothing listens there
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  gh = await startGatehouse(config(), { dir });
});

after(async () => {
  await gh?.stop();
  await redis?.stop();
  await memcached?.stop();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const PING = '*1\r\n$4\r\nPING\r\n'; // 14 bytes; the answer +PONG\r\n is 7

/** One PING over a plain connection, then close: a session of exactly 14 and 7 bytes. */
async function ping(port: number): Promise<string> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  s.end(PING);
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  // Not once(): it rejects on the reset a refused client gets.
  await new Promise((resolve) => s.once('close', resolve));
  return got;
}

/** The same over TLS with a client certificate (the direct listener). */
async function tlsPing(port: number, c: ClientFiles): Promise<string> {
  const s = tls.connect({
    port,
    host: '127.0.0.1',
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(c.cert),
    key: fs.readFileSync(c.key),
  });
  s.on('error', () => {});
  s.once('secureConnect', () => s.end(PING));
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  // Not once(): it rejects on the reset a refused client gets.
  await new Promise((resolve) => s.once('close', resolve));
  return got;
}

/** curl's status: the origin's, or with -p the proxy's answer to CONNECT. */
function curlVia(...args: string[]) {
  const out = args.includes('-p') ? '%{http_connect}' : '%{http_code}';
  return run('curl', ['-s', '-o', '/dev/null', '-w', out, '--max-time', '5', ...args]);
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${ports.health}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

type Labels = Record<string, string>;

/** Every sample of `name` as [labels, value]. */
function samples(text: string, name: string): [Labels, number][] {
  const out: [Labels, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push([labels, Number(m[3])]);
  }
  return out;
}

/** The value of the one sample of `name` with exactly `labels`; undefined when there is none. */
function value(text: string, name: string, labels: Labels = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = samples(text, name).filter(([l]) => JSON.stringify(Object.entries(l).sort()) === want);
  assert.ok(hits.length <= 1, `${name} ${want} appears ${hits.length} times`);
  return hits[0]?.[1];
}

const listener = (name: string, port: number) => `${name}@127.0.0.1:${port}`;

test('/livez and /readyz answer 200 once every face listens', async () => {
  assert.equal((await fetch(`http://127.0.0.1:${ports.health}/livez`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${ports.health}/readyz`)).status, 200);
});

test('every face is counted: sessions, bytes, denials, refused dials, handshakes, config, clusters, TLS', async () => {
  // Port forward: two sessions through, one refused by its security group, one to a closed port.
  assert.equal(await ping(ports.forward), '+PONG\r\n');
  assert.equal(await ping(ports.forward), '+PONG\r\n');
  assert.equal(await ping(ports.fenced), '');
  assert.equal(await ping(ports.closed), '');
  // Access endpoint: a session through the direct listener; a client of another CA.
  assert.equal(await tlsPing(ports.direct, alice), '+PONG\r\n');
  assert.match(await tlsPing(ports.direct, stranger), /^-ERR /);
  // The tunnel: a target no rule allows alice.
  const tunnel = await curlVia(
    '-p',
    '--proxy',
    `https://127.0.0.1:${ports.tunnel}`,
    '--proxy-cacert',
    pki.ca,
    '--proxy-cert',
    alice.cert,
    '--proxy-key',
    alice.key,
    `http://127.0.0.1:${originPort}/`,
  );
  assert.equal(tunnel.stdout, '403');
  // Egress: one request through, one not on the allowlist, two to a closed port (a tunnel that
  // dials before its session, a plain request whose session opens first).
  const proxy = ['-x', `http://127.0.0.1:${ports.egress}`];
  assert.equal((await curlVia(...proxy, `http://127.0.0.1:${originPort}/`)).stdout, '200');
  assert.equal((await curlVia(...proxy, 'http://denied.example/')).stdout, '403');
  assert.equal((await curlVia(...proxy, '-p', `http://127.0.0.1:${closedTarget}/`)).stdout, '502');
  assert.equal((await curlVia(...proxy, `http://127.0.0.1:${closedTarget}/`)).stdout, '502');

  // A session held open while the scrape runs: active 1 on its listener.
  const held = net.connect({ port: ports.forward, host: '127.0.0.1' });
  held.write(PING);
  await once(held, 'data');

  // A session leaves the registry before its closed line is written: wait for the lines.
  const ended = (face: string, port: number, n: number) =>
    gh.waitForAudit(
      () =>
        gh.audit.filter(
          (l) => l.event === 'closed' && l.face === face && String(l.listener).endsWith(`:${port}`),
        ).length >= n,
    );
  await ended('portForward', ports.forward, 2);
  await ended('accessEndpoint', ports.direct, 1);
  await gh.waitForAudit(() => gh.audit.filter((l) => l.face === 'egressProxy').length >= 4);
  const text = await scrape();
  held.destroy();

  // One family each, whatever the number of processes summed.
  const families = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(families, [...new Set(families)], 'a metric family appears twice');

  const pf = 'portForward';
  const s = (face: string, l: string, decision: string) =>
    value(text, 'gatehouse_sessions_total', { face, listener: l, decision });
  assert.equal(s(pf, listener('main', ports.forward), 'allowed'), 3);
  assert.equal(s(pf, listener('main', ports.forward), 'denied'), 0);
  assert.equal(s(pf, listener('fenced', ports.fenced), 'denied'), 1);
  assert.equal(s(pf, listener('main', ports.closed), 'allowed'), 1);
  assert.equal(s('accessEndpoint', listener('dev', ports.direct), 'allowed'), 1);
  assert.equal(s('accessEndpoint', listener('dev', ports.tunnel), 'denied'), 1);
  assert.equal(s('egressProxy', listener('out', ports.egress), 'allowed'), 3);
  assert.equal(s('egressProxy', listener('out', ports.egress), 'denied'), 1);

  const active = (face: string, l: string) => value(text, 'gatehouse_sessions_active', { face, listener: l });
  assert.equal(active(pf, listener('main', ports.forward)), 1);
  assert.equal(active('accessEndpoint', listener('dev', ports.direct)), 0);

  const bytes = (face: string, l: string, direction: string) =>
    value(text, 'gatehouse_session_bytes_total', { face, listener: l, direction });
  // Two sessions that ended and the live one, 14 bytes up and 7 down each.
  assert.equal(bytes(pf, listener('main', ports.forward), 'from_client'), 3 * 14);
  assert.equal(bytes(pf, listener('main', ports.forward), 'to_client'), 3 * 7);
  assert.equal(bytes('accessEndpoint', listener('dev', ports.direct), 'from_client'), 14);
  assert.equal(bytes('accessEndpoint', listener('dev', ports.direct), 'to_client'), 7);

  assert.deepEqual(
    samples(text, 'gatehouse_denials_total').sort((a, b) => a[0].face!.localeCompare(b[0].face!)),
    [
      [{ face: 'accessEndpoint', reason: 'no_authorization_rule_matched' }, 1],
      [{ face: 'egressProxy', reason: 'not_in_allowlist' }, 1],
      [{ face: 'portForward', reason: 'no_ingress_rule_matched' }, 1],
    ],
  );
  assert.deepEqual(
    samples(text, 'gatehouse_dial_failures_total').sort((a, b) => a[0].face!.localeCompare(b[0].face!)),
    [
      [{ face: 'egressProxy', reason: 'GH_ERR_DIAL_REFUSED' }, 2],
      [{ face: 'portForward', reason: 'GH_ERR_DIAL_REFUSED' }, 1],
    ],
  );
  assert.deepEqual(samples(text, 'gatehouse_handshake_failures_total'), [
    [{ endpoint: 'dev', reason: 'unknown_ca' }, 1],
  ]);

  assert.equal(value(text, 'gatehouse_config_generation'), 1);
  assert.equal(value(text, 'gatehouse_cluster_nodes', { cluster: 'cache' }), 1);
  const age = value(text, 'gatehouse_cluster_refresh_age_seconds', { cluster: 'cache' });
  assert.ok(age !== undefined && age >= 0 && age < 300, `refresh age ${age}`);

  const notAfter = (file: string) =>
    new Date(new X509Certificate(fs.readFileSync(file)).validTo).getTime() / 1000;
  assert.equal(
    value(text, 'gatehouse_certificate_expiry_timestamp_seconds', { name: 'server' }),
    notAfter(path.join(pki.dir, 'issued', 'server.crt')),
  );
  assert.equal(
    value(text, 'gatehouse_certificate_expiry_timestamp_seconds', { name: 'ca' }),
    notAfter(pki.ca),
  );
  const crl = parseCrl(fs.readFileSync(path.join(pki.dir, 'crl.pem'), 'utf8'));
  assert.equal(value(text, 'gatehouse_crl_next_update_timestamp_seconds'), crl.nextUpdate!.getTime() / 1000);

  // The egress proxy's own set is in the same scrape.
  const egress = samples(text, 'gatehouse_egress_requests_total').reduce((n, [, v]) => n + v, 0);
  assert.equal(egress, 4);

  // Bounded labels: no client address or identity anywhere.
  assert.doesNotMatch(text, /alice|stranger/);
  const names = new Set([...text.matchAll(/^(gatehouse_[a-z_]+)[{ ]/gm)].map((m) => m[1]!));
  for (const [labels] of [...names].flatMap((name) => samples(text, name)))
    for (const [k, v] of Object.entries(labels))
      if (k !== 'listener') assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+/, `${k}="${v}"`);
});

test('reloads are counted by result, and the generation follows the configs applied', async () => {
  const n = gh.logs.length;
  gh.writeConfig(config('# a comment: the same config, applied again\n'));
  await gh.waitForLog((l) => l.msg === 'config reloaded' && gh.logs.indexOf(l) >= n);
  const m = gh.logs.length;
  gh.writeConfig(`${config()}portForwards: [\n`);
  await gh.waitForLog((l) => /^config rejected/.test(String(l.msg)) && gh.logs.indexOf(l) >= m);
  const text = await scrape();
  assert.equal(value(text, 'gatehouse_config_reloads_total', { result: 'ok' }), 1);
  assert.equal(value(text, 'gatehouse_config_reloads_total', { result: 'error' }), 1);
  assert.equal(value(text, 'gatehouse_config_reloads_total', { result: 'partial' }), 0);
  assert.equal(value(text, 'gatehouse_config_generation'), 2);
  // The good config back, so the drain below runs on it.
  const k = gh.logs.length;
  gh.writeConfig(config());
  await gh.waitForLog((l) => l.msg === 'config reloaded' && gh.logs.indexOf(l) >= k);
});

test('/readyz answers 503 from SIGTERM on, while the daemon drains (and /livez still 200)', async () => {
  const n = gh.logs.length;
  gh.proc.kill('SIGTERM');
  await gh.waitForLog((l) => l.msg === 'shutting down' && gh.logs.indexOf(l) >= n);
  // drainDelay is 3 s: the health listener is still up, and says not ready.
  assert.equal((await fetch(`http://127.0.0.1:${ports.health}/readyz`)).status, 503);
  assert.equal((await fetch(`http://127.0.0.1:${ports.health}/livez`)).status, 200);
  // And the face listeners still accept during the delay (the balancer is the one to stop).
  assert.equal(await ping(ports.forward), '+PONG\r\n');
  await once(gh.proc, 'exit');
});

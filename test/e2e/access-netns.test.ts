// Access endpoints across network namespaces: developers outside reach a private network only
// through the endpoint, with a certificate from the PKI, only where their groups allow.
//
//   dev   198.51.100.27 ─┐                      ┌─ priv 10.0.1.231 (redis-server :6379)
//   ops   198.51.100.28 ─┼─ gw 198.51.100.1 ────┤
//   stray 203.0.113.5  ──┘  (gatehouse :8443,   └─ priv 10.0.1.232 (redis-server :6379)
//                            direct :6390 → cluster:sessions)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canUseNetns, Lab, waitInNetns } from '../helpers/netns.js';
import { run, startRedis, stopProcess, track, type Server } from '../helpers/procs.js';
import { CLI, clientConfig, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';

const skip = canUseNetns ? false : 'needs root and ip netns';
const lab = new Lab();
let gw: string, dev: string, ops: string, stray: string, priv: string;
let redisA: Server | undefined, redisB: Server | undefined;
let gh: Gatehouse | undefined;
let pki: TestPki;
let alice: ClientFiles, olga: ClientFiles, eve: ClientFiles;
let dir: string;

const CONFIG = `pki: ./pki
securityGroups:
  office:
    members: ["198.51.100.0/24"]
    ingress:
      - { protocol: tcp, ports: "8443,6390", source: "sg:office" }
    egress:
      - { protocol: tcp, ports: "6379", destination: "10.0.1.0/24" }
clusters:
  sessions: { engine: redis, nodes: ["10.0.1.231:6379"] }
accessEndpoints:
  dev:
    listen: "0.0.0.0:8443"
    serverCertificate: server
    securityGroups: [office]
    authorizationRules:
      - { target: "10.0.1.231/32", ports: "6379", groups: [developers] }
      - { target: "10.0.1.232/32", groups: [ops] }
    directListeners:
      - { listen: "0.0.0.0:6390", target: "cluster:sessions" }
    connectionLog: true
    sessionTimeout: 12h
admin:
  enabled: false
`;

before(async () => {
  if (skip) return;
  gw = lab.host('gw');
  dev = lab.host('dev');
  ops = lab.host('ops');
  stray = lab.host('stray');
  priv = lab.host('priv');
  lab.link(gw, '198.51.100.1/32', dev, '198.51.100.27/32');
  lab.link(gw, '198.51.100.1/32', ops, '198.51.100.28/32');
  lab.link(gw, '198.51.100.1/32', stray, '203.0.113.5/32');
  lab.link(gw, '10.0.1.1/24', priv, '10.0.1.231/24');
  lab.addAddress(priv, '10.0.1.232/32');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-netns-'));
  pki = await mintPki(['DNS:gw.example.test', 'IP:198.51.100.1'], dir);
  alice = await pki.client('alice', ['developers']);
  olga = await pki.client('olga', ['ops']);
  eve = await pki.client('eve', ['developers']);
  redisA = await startRedis({ netns: priv, host: '10.0.1.231', port: 6379 });
  redisB = await startRedis({ netns: priv, host: '10.0.1.232', port: 6379 });
  await waitInNetns(priv, ['redis-cli', '-h', '10.0.1.231', 'PING']);
  await waitInNetns(priv, ['redis-cli', '-h', '10.0.1.232', 'PING']);
  await run('redis-cli', ['-h', '10.0.1.232', 'SET', 'where', 'b'], { netns: priv });
  gh = await startGatehouse(CONFIG, { netns: gw, dir });
});

after(async () => {
  await gh?.stop();
  await redisA?.stop();
  await redisB?.stop();
  lab.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const tlsArgs = (c: ClientFiles) => ['--tls', '--cert', c.cert, '--key', c.key, '--cacert', pki.ca];

test('the private network is not reachable from outside except through the endpoint', { skip }, async () => {
  const r = await run('redis-cli', ['-h', '10.0.1.231', '-p', '6379', '-t', '1', 'PING'], { netns: dev });
  assert.notEqual(r.stdout.trim(), 'PONG');
});

test('redis-cli --tls reaches cluster:sessions through the direct listener', { skip }, async () => {
  const r = await run(
    'redis-cli',
    [...tlsArgs(alice), '-h', '198.51.100.1', '-p', '6390', 'SET', 'where', 'a'],
    {
      netns: dev,
    },
  );
  assert.equal(r.stdout.trim(), 'OK', r.stderr);
  const accepted = await gh!.waitForAudit((l) => l.event === 'accepted' && l.commonName === 'alice');
  assert.equal(accepted.clientIp, '198.51.100.27');
  assert.equal(accepted.target, '10.0.1.231:6379');
  assert.equal(accepted.listener, 'dev@0.0.0.0:6390');
  const closed = await gh!.waitForAudit((l) => l.event === 'closed' && l.session === accepted.session);
  for (const k of [
    'session',
    'clientIp',
    'clientPort',
    'commonName',
    'startTime',
    'endTime',
    'status',
    'reason',
  ])
    assert.ok(closed[k] !== undefined, `closed event has ${k}`);
  assert.ok(Number(closed.bytesFromClient) > 0 && Number(closed.bytesToClient) > 0);
});

test('curl --proxy https:// tunnels to the private redis with CONNECT', { skip }, async () => {
  const r = await run(
    'curl',
    [
      '-sS',
      '--max-time',
      '5',
      '-p',
      '--proxy',
      'https://198.51.100.1:8443',
      '--proxy-cacert',
      pki.ca,
      '--proxy-cert',
      alice.cert,
      '--proxy-key',
      alice.key,
      'telnet://10.0.1.231:6379',
    ],
    { netns: dev, input: 'GET where\r\nQUIT\r\n' },
  );
  assert.match(r.stdout, /^\$1\r\na\r\n\+OK\r\n$/, r.stderr);
});

test(
  'group rules: ops reaches 10.0.1.232, developers get 403 there; stray sources are refused before TLS',
  { skip },
  async () => {
    const curl = (c: ClientFiles, ns: string, target: string) =>
      run(
        'curl',
        [
          '-sS',
          '--max-time',
          '5',
          '-p',
          '--proxy',
          'https://198.51.100.1:8443',
          '--proxy-cacert',
          pki.ca,
          '--proxy-cert',
          c.cert,
          '--proxy-key',
          c.key,
          '-w',
          '%{http_connect}',
          `telnet://${target}`,
        ],
        { netns: ns, input: 'GET where\r\nQUIT\r\n' },
      );
    const yes = await curl(olga, ops, '10.0.1.232:6379');
    assert.match(yes.stdout, /\$1\r\nb\r\n/, yes.stderr);
    const no = await curl(alice, dev, '10.0.1.232:6379');
    assert.notEqual(no.code, 0);
    assert.match(no.stdout + no.stderr, /403/);
    const denied = await gh!.waitForAudit(
      (l) => l.event === 'denied' && l.commonName === 'alice' && l.target === '10.0.1.232:6379',
    );
    assert.equal(denied.reason, 'not_in_authorized_group');
    assert.match(String(denied.where), /gatehouse\.yaml:18$/);
    // Authorized for ops (any port), but the endpoint's security group lets it dial only 6379.
    const egress = await curl(olga, ops, '10.0.1.232:22');
    assert.match(egress.stdout + egress.stderr, /403/);
    const blocked = await gh!.waitForAudit(
      (l) => l.event === 'denied' && l.commonName === 'olga' && l.target === '10.0.1.232:22',
    );
    assert.equal(blocked.reason, 'no_egress_rule_matched');
    const s = await run('redis-cli', [...tlsArgs(alice), '-h', '198.51.100.1', '-p', '6390', 'PING'], {
      netns: stray,
    });
    assert.notEqual(s.stdout.trim(), 'PONG');
    const refused = await gh!.waitForAudit((l) => l.event === 'denied' && l.clientIp === '203.0.113.5');
    assert.equal(refused.reason, 'no_ingress_rule_matched');
  },
);

test('gatehouse connect forwards a local port from outside over one HTTP/2 session', { skip }, async () => {
  const profile = path.join(dir, 'alice.profile');
  const cfg = await clientConfig(gh!, 'dev', 'alice', profile);
  assert.equal(cfg.code, 0, cfg.stderr);
  const proc = track(
    spawn(
      'ip',
      ['netns', 'exec', dev, process.execPath, CLI, 'connect', profile, '--forward', '16379:10.0.1.231:6379'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    ),
  );
  try {
    await waitInNetns(dev, ['redis-cli', '-p', '16379', 'PING']);
    const r = await run('redis-cli', ['-p', '16379', 'GET', 'where'], { netns: dev });
    assert.equal(r.stdout.trim(), 'a');
  } finally {
    await stopProcess(proc);
  }
});

test('revoking a certificate closes its open session within 1 s, with reason revoked', { skip }, async () => {
  const sub = track(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        dev,
        'redis-cli',
        ...tlsArgs(eve),
        '-h',
        '198.51.100.1',
        '-p',
        '6390',
        'SUBSCRIBE',
        'news',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  const [first] = (await once(sub.stdout!, 'data')) as [Buffer];
  assert.match(first.toString(), /subscribe/);
  const exited = once(sub, 'exit');
  const t0 = Date.now();
  await pki.revoke('eve');
  await exited;
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `session closed after ${elapsed} ms`);
  const closed = await gh!.waitForAudit((l) => l.event === 'closed' && l.commonName === 'eve');
  assert.equal(closed.reason, 'revoked');
  const again = await run('redis-cli', [...tlsArgs(eve), '-h', '198.51.100.1', '-p', '6390', 'PING'], {
    netns: dev,
  });
  assert.match(again.stdout + again.stderr, /revoked/);
  const refused = await gh!.waitForAudit((l) => l.event === 'denied' && l.commonName === 'eve');
  assert.equal(refused.reason, 'revoked');
  assert.equal(refused.clientIp, '198.51.100.27');
});

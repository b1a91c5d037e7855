// Security groups with real source addresses: clients in their own network namespaces reach a
// gateway namespace that forwards into a private network they cannot reach themselves.
//
//   client-a 198.51.100.27 ─┐
//                           ├─ gw 198.51.100.1 ── 10.0.1.1/24 ── priv 10.0.1.231 (redis-server)
//   client-b 198.51.100.28 ─┘      (gatehouse)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns, gatewayLab, Lab, waitInNetns } from '../helpers/netns.js';
import { run, startRedis, type Server } from '../helpers/procs.js';
import { CLI, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';

const skip = canUseNetns ? false : 'needs root and ip netns';
const lab = new Lab();
let gw: string, a: string, b: string, priv: string;
let redis: Server | undefined;
let gh: Gatehouse | undefined;

const CONFIG = `
securityGroups:
  cache-nat:
    ingress:
      - { protocol: tcp, ports: "6380", source: "198.51.100.27/32" }
      - { protocol: tcp, ports: "6381-6385", source: "sg:office" }
    egress:
      - { protocol: tcp, ports: "6379", destination: "10.0.1.0/24" }
  office:
    members: ["198.51.100.28/32"]
portForwards:
  nat:
    address: "0.0.0.0"
    securityGroups: [cache-nat]
    forwards:
      - { listen: "6380-6381", target: "10.0.1.231:6379" }
      - { listen: "6382", target: "10.0.2.99:6379" }
admin:
  enabled: false
`;

before(async () => {
  if (skip) return;
  ({ gw, a, b, priv } = gatewayLab(lab));
  redis = await startRedis({ netns: priv, host: '10.0.1.231', port: 6379 });
  await waitInNetns(priv, ['redis-cli', '-h', '10.0.1.231', 'PING']);
  gh = await startGatehouse(CONFIG, { netns: gw });
});

after(async () => {
  await gh?.stop();
  await redis?.stop();
  lab.destroy();
});

test('198.51.100.27 is admitted on 6380 and reaches the private redis', { skip }, async () => {
  const r = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6380', 'SET', 'from', 'a'], { netns: a });
  assert.equal(r.stdout.trim(), 'OK', r.stderr);
  const accepted = await gh!.waitForAudit(
    (l) => l.event === 'accepted' && String(l.source).startsWith('198.51.100.27:'),
  );
  assert.equal(accepted.rule, 'tcp 6380 from 198.51.100.27/32');
  assert.match(String(accepted.where), /gatehouse\.yaml:5$/);
});

test('198.51.100.28 is refused on the same port, at once, and the refusal is logged', { skip }, async () => {
  const started = Date.now();
  const r = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6380', 'PING'], { netns: b });
  assert.ok(Date.now() - started < 3000, 'refused promptly');
  assert.notEqual(r.stdout.trim(), 'PONG');
  const denied = await gh!.waitForAudit(
    (l) => l.event === 'denied' && String(l.source).startsWith('198.51.100.28:'),
  );
  assert.equal(denied.reason, 'no_ingress_rule_matched');
  assert.equal(denied.allowed, false);
});

test('sg:office admits its member 198.51.100.28 on 6381, but not 198.51.100.27', { skip }, async () => {
  const ok = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6381', 'GET', 'from'], { netns: b });
  assert.equal(ok.stdout.trim(), 'a', ok.stderr);
  const no = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6381', 'PING'], { netns: a });
  assert.notEqual(no.stdout.trim(), 'PONG');
});

test('the private network is not reachable from outside except through the gateway', { skip }, async () => {
  const r = await run('redis-cli', ['-h', '10.0.1.231', '-p', '6379', '-t', '1', 'PING'], { netns: a });
  assert.notEqual(r.stdout.trim(), 'PONG');
});

test('explain agrees with the daemon, naming rule and line', { skip }, async () => {
  const yes = await run(process.execPath, [
    CLI,
    'explain',
    '-c',
    gh!.configPath,
    '--from',
    '198.51.100.27',
    '--to',
    '198.51.100.1:6380',
  ]);
  assert.equal(yes.code, 0, yes.stdout + yes.stderr);
  assert.match(yes.stdout, /^ALLOWED/);
  assert.match(yes.stdout, /ingress rule 1 \(tcp 6380 from 198\.51\.100\.27\/32\) at .*gatehouse\.yaml:5/);
  const no = await run(process.execPath, [
    CLI,
    'explain',
    '-c',
    gh!.configPath,
    '--from',
    '198.51.100.28',
    '--to',
    '198.51.100.1:6380',
  ]);
  assert.equal(no.code, 1);
  assert.match(no.stdout, /^DENIED.*\n.*no ingress rule of group\(s\) cache-nat matched/);
});

test(
  'egress rules are checked before dialing: 6382 forwards outside the allowed network',
  { skip },
  async () => {
    const r = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6382', 'PING'], { netns: b });
    assert.notEqual(r.stdout.trim(), 'PONG');
    const denied = await gh!.waitForAudit((l) => l.event === 'denied' && l.target === '10.0.2.99:6379');
    assert.equal(denied.reason, 'no_egress_rule_matched');
  },
);

// The kernel data path of port forwards: nftables DNAT for admitted sources, kept in sync with
// the config; refused sources still meet Gatehouse's own listener, which audits them.
//
//   a 198.51.100.27 ─┐
//                    ├─ gw 198.51.100.1 (gatehouse, nftables) ── 10.0.1.1/24 ── priv 10.0.1.231 redis
//   b 198.51.100.28 ─┘
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { canUseNetns, gatewayLab, Lab, waitInNetns } from '../helpers/netns.js';
import { watchClientId, type ClientIdWatch } from '../helpers/client-id.js';
import { run, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';

let hasNft = false;
try {
  execFileSync('nft', ['--version'], { stdio: 'ignore' });
  execFileSync('conntrack', ['--version'], { stdio: 'ignore' });
  hasNft = true;
} catch {
  hasNft = false;
}
const skip = canUseNetns && hasNft ? false : 'needs root, ip netns, nft and conntrack';
const lab = new Lab();
let gw: string, a: string, b: string, priv: string;
let redis: Server | undefined;
let gh: Gatehouse | undefined;
let cli: ClientIdWatch | undefined;

const config = (description: string) => `
securityGroups:
  nat:
    description: ${description}
    ingress:
      - { protocol: tcp, ports: "6380", source: "198.51.100.27/32" }
portForwards:
  k:
    dataPath: kernel
    securityGroups: [nat]
    forwards:
      - { listen: "6380", target: "10.0.1.231:6379" }
admin:
  enabled: false
`;

before(async () => {
  if (skip) return;
  ({ gw, a, b, priv } = gatewayLab(lab));
  execFileSync('ip', ['netns', 'exec', gw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  redis = await startRedis({ netns: priv, host: '10.0.1.231', port: 6379 });
  await waitInNetns(priv, ['redis-cli', '-h', '10.0.1.231', 'PING']);
  gh = await startGatehouse(config('v1'), { netns: gw });
  await gh.waitForLog((l) => l.msg === 'kernel data path: nftables rules in force');
});

after(async () => {
  cli?.stop();
  await gh?.stop();
  await redis?.stop();
  lab.destroy();
});

test(
  'an admitted client is DNATed by the kernel, followed as a session, and logged with bytes',
  { skip },
  async () => {
    const r = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6380', 'SET', 'k', 'v'], { netns: a });
    assert.equal(r.stdout.trim(), 'OK', r.stderr);
    const accepted = await gh!.waitForAudit(
      (l) => l.event === 'accepted' && String(l.source).startsWith('198.51.100.27:'),
    );
    assert.match(String(accepted.session), /^k\d+$/, 'a kernel flow, not a relayed session');
    assert.equal(accepted.target, '10.0.1.231:6379');
    assert.match(String(accepted.where), /gatehouse\.yaml:6$/);
    assert.ok(!gh!.audit.some((l) => l.event === 'dialed'), 'the userspace relay dialed nothing');
    const closed = await gh!.waitForAudit((l) => l.event === 'closed' && l.session === accepted.session);
    assert.ok(Number(closed.bytesFromClient) > 0 && Number(closed.bytesToClient) > 0, JSON.stringify(closed));
  },
);

test(
  'a refused client falls through to the userspace listener, which refuses and audits it',
  { skip },
  async () => {
    const r = await run('redis-cli', ['-h', '198.51.100.1', '-p', '6380', 'PING'], { netns: b });
    assert.notEqual(r.stdout.trim(), 'PONG');
    const denied = await gh!.waitForAudit(
      (l) => l.event === 'denied' && String(l.source).startsWith('198.51.100.28:'),
    );
    assert.equal(denied.reason, 'no_ingress_rule_matched');
  },
);

test(
  'a reload replaces the ruleset atomically and the open kernel session carries on',
  { skip },
  async () => {
    cli = watchClientId('198.51.100.1', 6380, a);
    await cli.more(2);
    const n = gh!.logs.length;
    gh!.writeConfig(config('v2'));
    await gh!.waitForLog((l) => l.msg === 'config reloaded' && gh!.logs.indexOf(l) >= n);
    await cli.more(4);
    assert.equal(new Set(cli.ids).size, 1, `reconnected: ${[...new Set(cli.ids)].join(',')}`);
    const ruleset = execFileSync('ip', [
      'netns',
      'exec',
      gw,
      'nft',
      'list',
      'table',
      'ip',
      'gatehouse',
    ]).toString();
    assert.match(ruleset, /dnat (ip )?to 10\.0\.1\.231:6379/);
  },
);

test('stopping the daemon removes its nftables table', { skip }, async () => {
  cli?.stop();
  await gh!.stop();
  assert.throws(() =>
    execFileSync('ip', ['netns', 'exec', gw, 'nft', 'list', 'table', 'ip', 'gatehouse'], { stdio: 'ignore' }),
  );
  gh = undefined;
});

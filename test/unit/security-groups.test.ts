import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { parseConfig } from '../../src/config/load.js';
import { parseIp } from '../../src/net/cidr.js';
import { compileSecurityPolicy, decideEgress, decideIngress } from '../../src/policy/security-groups.js';
import { explain } from '../../src/policy/explain.js';
import { describeDecision } from '../../src/policy/decision.js';

const YAML = `securityGroups:
  cache-nat:
    ingress:
      - { protocol: tcp, ports: "11211-11213", source: "198.51.100.27/32" }
      - { protocol: tcp, ports: "6380-6385",   source: "sg:office" }
    egress:
      - { protocol: tcp, ports: "6379,11211", destination: "10.0.1.0/24" }
  office:
    members: ["203.0.113.0/24", "2001:db8:10::/48"]
  open-egress:
    ingress:
      - { ports: all, source: "0.0.0.0/0" }
portForwards:
  nat:
    securityGroups: [cache-nat]
    forwards:
      - { listen: "6380", target: "10.0.1.231:6379" }
      - { listen: "6381", target: "10.0.2.9:6379" }
      - { listen: "11211-11213", target: "10.0.1.230:11211" }
`;
const loaded = parseConfig(YAML, 'sg.yaml', os.tmpdir());
const policy = compileSecurityPolicy(loaded.config, loaded.source);
const ip = (s: string) => parseIp(s)!;

// [source, local port, groups, allowed, rule line or null]
const INGRESS: [string, number, string[], boolean, number | null][] = [
  ['198.51.100.27', 11211, ['cache-nat'], true, 4],
  ['198.51.100.27', 11213, ['cache-nat'], true, 4],
  ['198.51.100.28', 11211, ['cache-nat'], false, null],
  ['198.51.100.27', 11214, ['cache-nat'], false, null],
  ['198.51.100.27', 6380, ['cache-nat'], false, null],
  ['203.0.113.9', 6380, ['cache-nat'], true, 5],
  ['::ffff:203.0.113.9', 6385, ['cache-nat'], true, 5],
  ['2001:db8:10::42', 6381, ['cache-nat'], true, 5],
  ['2001:db8:11::42', 6381, ['cache-nat'], false, null],
  ['203.0.113.9', 6386, ['cache-nat'], false, null],
  ['10.9.9.9', 1, ['office'], false, null],
  ['10.9.9.9', 1, ['office', 'open-egress'], true, 12],
  ['10.9.9.9', 1, [], true, null],
];

for (const [src, port, groups, allowed, line] of INGRESS) {
  test(`ingress ${src} → :${port} via [${groups.join(',')}] is ${allowed ? 'allowed' : 'denied'}`, () => {
    const d = decideIngress(policy, groups, ip(src), port);
    assert.equal(d.allowed, allowed, describeDecision(d));
    if (line === null) assert.equal(d.rule, undefined);
    else assert.equal(d.rule?.where, `sg.yaml:${line}`);
  });
}

test('egress: rules when present, all allowed when a group has none', () => {
  assert.equal(decideEgress(policy, ['cache-nat'], ip('10.0.1.231'), 6379).allowed, true);
  assert.equal(decideEgress(policy, ['cache-nat'], ip('10.0.1.231'), 6380).allowed, false);
  assert.equal(decideEgress(policy, ['cache-nat'], ip('10.0.2.9'), 6379).reason, 'no_egress_rule_matched');
  assert.equal(
    decideEgress(policy, ['cache-nat', 'office'], ip('10.0.2.9'), 6379).reason,
    'egress_unrestricted',
  );
});

test('explain names the listener, rule and FILE:LINE, and checks egress of the target', () => {
  const [ok] = explain(loaded.config, loaded.source, policy, ip('203.0.113.5'), {
    host: '0.0.0.0',
    port: 6380,
  });
  assert.ok(ok && ok.allowed);
  assert.equal(ok.target, '10.0.1.231:6379');
  assert.match(describeDecision(ok.steps[0]!.decision), /cache-nat ingress rule 2 .* at sg\.yaml:5/);
  const [blocked] = explain(loaded.config, loaded.source, policy, ip('203.0.113.5'), {
    host: '0.0.0.0',
    port: 6381,
  });
  assert.ok(blocked && !blocked.allowed);
  assert.equal(blocked.steps[1]!.decision.reason, 'no_egress_rule_matched');
  const [denied] = explain(loaded.config, loaded.source, policy, ip('198.51.100.28'), {
    host: '0.0.0.0',
    port: 11212,
  });
  assert.ok(denied && !denied.allowed && denied.steps.length === 1);
  assert.deepEqual(
    explain(loaded.config, loaded.source, policy, ip('1.2.3.4'), { host: '0.0.0.0', port: 9 }),
    [],
  );
});

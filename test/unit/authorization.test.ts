import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { makeSource } from '../../src/config/source.js';
import { parseIp } from '../../src/net/cidr.js';
import {
  compileAuthorization,
  decideAuthorization,
  describeAuthorization,
  targetsForGroups,
} from '../../src/policy/authorization.js';

const YAML = `accessEndpoints:
  dev:
    listen: "0.0.0.0:8443"
    serverCertificate: server
    authorizationRules:
      - { target: "10.0.1.0/24", groups: [developers] }
      - { target: "10.0.2.10/32", allGroups: true }
      - { target: "10.0.1.99/32", groups: [ops] }
      - { target: "10.0.3.0/24", ports: "6379,11211", groups: [developers, qa] }
      - { target: "2001:db8:cafe::/48", groups: [developers] }
      - { target: "10.0.0.0/8", groups: [admins] }
`;
// Built from the schema and source directly: parseConfig would also want the PKI on disk.
const lc = new LineCounter();
const doc = parseDocument(YAML, { lineCounter: lc });
const config = configSchema.parse(doc.toJS());
const source = makeSource('authz.yaml', doc, lc);
const policy = compileAuthorization('dev', config.accessEndpoints.dev!, source);
const ip = (s: string) => parseIp(s)!;

// [groups, target ip, port, allowed, reason, rule line or null]
const CASES: [string[], string, number, boolean, string, number | null][] = [
  [['developers'], '10.0.1.5', 6379, true, 'authorization_rule_matched', 6],
  [['qa'], '10.0.1.5', 6379, false, 'not_in_authorized_group', 6],
  [[], '10.0.1.5', 6379, false, 'not_in_authorized_group', 6],
  [['qa'], '10.0.2.10', 6379, true, 'authorization_rule_matched', 7],
  [[], '10.0.2.10', 1, true, 'authorization_rule_matched', 7],
  [['developers'], '10.0.2.11', 6379, false, 'not_in_authorized_group', 11],
  // The most specific prefix wins: a /32 for ops shadows the /24 for developers.
  [['developers'], '10.0.1.99', 6379, false, 'not_in_authorized_group', 8],
  [['ops'], '10.0.1.99', 6379, true, 'authorization_rule_matched', 8],
  // Ports narrow a rule; a port outside it falls through to a broader rule.
  [['qa'], '10.0.3.7', 11211, true, 'authorization_rule_matched', 9],
  [['qa'], '10.0.3.7', 22, false, 'not_in_authorized_group', 11],
  [['admins'], '10.0.3.7', 22, true, 'authorization_rule_matched', 11],
  // IPv6.
  [['developers'], '2001:db8:cafe:1::5', 6379, true, 'authorization_rule_matched', 10],
  [['developers'], '2001:db8:beef::5', 6379, false, 'no_authorization_rule_matched', null],
  // IPv4-mapped IPv6 is matched as IPv4.
  [['developers'], '::ffff:10.0.1.5', 6379, true, 'authorization_rule_matched', 6],
  // Nothing covers it.
  [['developers', 'admins'], '192.168.1.1', 6379, false, 'no_authorization_rule_matched', null],
];

for (const [groups, target, port, allowed, reason, line] of CASES) {
  test(`authorization: [${groups.join(',')}] → ${target}:${port} is ${allowed ? 'allowed' : 'denied'} (${reason})`, () => {
    const d = decideAuthorization(policy, groups, ip(target), port);
    assert.equal(d.allowed, allowed);
    assert.equal(d.reason, reason);
    assert.equal(d.rule?.where, line === null ? undefined : `authz.yaml:${line}`);
    assert.match(describeAuthorization(d), allowed ? /^allowed/ : /^denied/);
  });
}

test('authorization: an endpoint without rules denies everything (fail closed)', () => {
  const empty = compileAuthorization('x', { authorizationRules: [] }, source);
  const d = decideAuthorization(empty, ['developers'], ip('10.0.1.5'), 6379);
  assert.deepEqual([d.allowed, d.reason], [false, 'no_authorization_rule_matched']);
});

test('authorization: a rule needs exactly one of groups or allGroups', () => {
  const bad = `accessEndpoints:
  dev:
    listen: "8443"
    serverCertificate: server
    authorizationRules:
      - { target: "10.0.1.0/24" }
      - { target: "10.0.2.0/24", groups: [a], allGroups: true }
      - { target: "10.0.3.5/24", groups: [a] }
`;
  assert.throws(
    () => parseConfig(bad, 'bad.yaml', '/nonexistent'),
    (err: { details: string[] }) => {
      const text = err.details.join('\n');
      assert.match(text, /bad\.yaml:6: .*exactly one of/);
      assert.match(text, /bad\.yaml:7: .*exactly one of/);
      assert.match(text, /bad\.yaml:8: .*host bits set; write "10\.0\.3\.0\/24"/);
      return true;
    },
  );
});

test('authorization: targetsForGroups lists what a profile may reach', () => {
  assert.deepEqual(targetsForGroups(policy, ['qa']), ['10.0.2.10/32', '10.0.3.0/24 ports 6379,11211']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { parseAllowlist } from '../../src/policy/allowlist.js';
import {
  decideDestination,
  decideEgressRequest,
  describeEgressDecision,
  EGRESS_REASONS,
  type EgressRules,
} from '../../src/policy/egress-decision.js';
import { normalizeHost } from '../../src/policy/egress-host.js';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../src/net/cidr.js';
import { parsePortSet, type PortSet } from '../../src/net/ports.js';
import { SQUID_SAFE_PORTS } from '../../src/config/schema.js';

const lists = new Map([
  ['/etc/all.txt', parseAllowlist('.example.com\n', '/etc/all.txt')],
  ['/etc/team-a.txt', parseAllowlist('.github.com\n', '/etc/team-a.txt')],
  ['/etc/team-b.txt', parseAllowlist('pypi.org\n', '/etc/team-b.txt')],
]);

function rules(over: Partial<EgressRules> = {}): EgressRules {
  return {
    policies: [
      { name: 'team-a', users: new Set(['alice']), allowlist: '/etc/team-a.txt', where: 'g.yaml:10' },
      {
        name: 'team-b',
        sources: [parseCidr('10.20.0.0/16') as Cidr],
        allowlist: '/etc/team-b.txt',
        where: 'g.yaml:12',
      },
    ],
    defaultAllowlist: '/etc/all.txt',
    httpPorts: parsePortSet(SQUID_SAFE_PORTS) as PortSet,
    connectPorts: parsePortSet('443') as PortSet,
    httpPortsWhere: 'g.yaml:5',
    connectPortsWhere: 'g.yaml:6',
    reportOnly: false,
    ...over,
  };
}

const src = (s: string) => parseIp(s) as IpAddress;
const req = (
  host: string,
  port: number,
  connect: boolean,
  extra: { user?: string; source?: string } = {},
) => ({
  connect,
  host: normalizeHost(host),
  port,
  source: src(extra.source ?? '192.0.2.1'),
  ...(extra.user ? { user: extra.user } : {}),
});

test('decision: the default allowlist serves everyone no policy names', () => {
  const d = decideEgressRequest(rules(), lists, req('www.example.com', 80, false));
  assert.deepEqual(d, {
    allowed: true,
    reason: 'allowlist_matched',
    rule: { text: '.example.com', where: '/etc/all.txt:1' },
    policy: 'default',
  });
  assert.equal(decideEgressRequest(rules(), lists, req('github.com', 443, true)).reason, 'not_in_allowlist');
});

test('decision: a policy by user gets its own allowlist, not the default', () => {
  const d = decideEgressRequest(rules(), lists, req('api.github.com', 443, true, { user: 'alice' }));
  assert.equal(d.allowed, true);
  assert.equal(d.policy, 'team-a');
  assert.equal(
    decideEgressRequest(rules(), lists, req('example.com', 443, true, { user: 'alice' })).allowed,
    false,
  );
});

test('decision: a policy by source network', () => {
  assert.equal(
    decideEgressRequest(rules(), lists, req('pypi.org', 443, true, { source: '10.20.3.4' })).policy,
    'team-b',
  );
  assert.equal(
    decideEgressRequest(rules(), lists, req('pypi.org', 443, true, { source: '10.21.3.4' })).allowed,
    false,
  );
});

test('decision: ports like Squid: CONNECT to 443 only, plain HTTP to Safe_ports', () => {
  const c = decideEgressRequest(rules(), lists, req('example.com', 8443, true));
  assert.equal(c.reason, 'connect_port_not_allowed');
  assert.equal(c.rule?.where, 'g.yaml:6');
  assert.equal(decideEgressRequest(rules(), lists, req('example.com', 22, false)).reason, 'port_not_allowed');
  assert.equal(decideEgressRequest(rules(), lists, req('example.com', 8080, false)).allowed, true);
  assert.equal(decideEgressRequest(rules(), lists, req('example.com', 777, false)).allowed, true);
});

test('decision: no policy and no default allowlist denies; a missing file denies', () => {
  const r = rules({ policies: [] });
  delete (r as { defaultAllowlist?: string }).defaultAllowlist;
  assert.equal(decideEgressRequest(r, lists, req('example.com', 443, true)).reason, 'no_policy_matched');
  assert.equal(
    decideEgressRequest(rules(), new Map(), req('example.com', 443, true)).reason,
    'allowlist_unavailable',
  );
});

test('decision: report-only allows what it would deny and says why', () => {
  const d = decideEgressRequest(rules({ reportOnly: true }), lists, req('evil.net', 443, true));
  assert.equal(d.allowed, true);
  assert.equal(d.reason, 'report_only');
  assert.equal(d.wouldDeny, 'not_in_allowlist');
  assert.match(describeEgressDecision(d), /would be denied: not_in_allowlist/);
  assert.equal(decideEgressRequest(rules({ reportOnly: true }), lists, req('a b', 443, true)).allowed, false);
});

test('decision: the destination guard is a decision too', () => {
  const d = decideDestination(ipaddr.parse('169.254.169.254'), { enabled: true, allow: [] });
  assert.equal(d.allowed, false);
  assert.equal(d.reason, 'private_destination');
  assert.equal(d.rule?.text, 'link_local');
});

test('fuzz: every random request gets a decision with a known reason', () => {
  const alphabet = 'abcexmpl.0123456789:[]-_';
  for (let i = 0; i < 3000; i++) {
    const host = Array.from(
      { length: Math.floor(Math.random() * 20) },
      () => alphabet[Math.floor(Math.random() * alphabet.length)],
    ).join('');
    const d = decideEgressRequest(
      rules({ reportOnly: Math.random() < 0.5 }),
      lists,
      req(host, 1 + Math.floor(Math.random() * 65535), Math.random() < 0.5),
    );
    assert.ok(EGRESS_REASONS.includes(d.reason));
    assert.equal(typeof d.allowed, 'boolean');
  }
});

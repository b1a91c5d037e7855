// The SNI decision of egress tunnels (policy/server-name.ts) over a table of openings: a match after
// the allowlist's normalisation, fronting refused with both names, no SNI and not-TLS by
// sniMissing (and its default by target kind), unreadable hellos, report-only, the switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeHost } from '../../src/policy/egress-host.js';
import { decideServerName, type ServerNameRules, type TunnelOpening } from '../../src/policy/server-name.js';

const RULES: ServerNameRules = {
  mustMatch: true,
  missing: undefined,
  reportOnly: false,
  mustMatchWhere: 'g.yaml:7',
  missingWhere: 'g.yaml:8',
};
const hello = (serverName: string | undefined, ech = false): TunnelOpening => ({
  kind: 'hello',
  serverName,
  ech,
});

const CASES: [string, string, TunnelOpening, Partial<ServerNameRules>, string | true][] = [
  ['the same name', 'allowed.test', hello('allowed.test'), {}, true],
  ['the same name, other spelling', 'Allowed.TEST.', hello('allowed.test'), {}, true],
  ['an IDN as A-label', 'bücher.de', hello('xn--bcher-kva.de'), {}, true],
  ['another name', 'allowed.test', hello('other.test'), {}, 'sni_mismatch'],
  ['a subdomain is another name', 'allowed.test', hello('www.allowed.test'), {}, 'sni_mismatch'],
  ['an ECH outer name compared as sent', 'allowed.test', hello('cdn.example', true), {}, 'sni_mismatch'],
  ['an ECH outer name that matches', 'allowed.test', hello('allowed.test', true), {}, true],
  ['a name for an IP target', '203.0.113.10', hello('other.test'), {}, 'sni_mismatch'],
  ['no SNI for a name', 'allowed.test', hello(undefined), {}, 'sni_missing'],
  ['no SNI for an IP', '203.0.113.10', hello(undefined), {}, true],
  ['not TLS for a name', 'allowed.test', { kind: 'not-tls' }, {}, 'sni_missing'],
  ['not TLS for an IP', '203.0.113.10', { kind: 'not-tls' }, {}, true],
  ['nothing in time for a name', 'allowed.test', { kind: 'none' }, {}, 'sni_missing'],
  ['sniMissing: allow for a name', 'allowed.test', { kind: 'not-tls' }, { missing: 'allow' }, true],
  ['sniMissing: deny for an IP', '203.0.113.10', hello(undefined), { missing: 'deny' }, 'sni_missing'],
  ['an unreadable hello', '203.0.113.10', { kind: 'invalid', why: 'x' }, {}, 'sni_invalid'],
  ['sniMustMatch: false', 'allowed.test', hello('other.test'), { mustMatch: false }, true],
];

for (const [what, host, opening, rules, want] of CASES) {
  test(`server name: ${what}`, () => {
    const d = decideServerName(normalizeHost(host), opening, { ...RULES, ...rules });
    if (want === true) return assert.equal(d.allowed, true);
    assert.equal(d.allowed, false);
    assert.equal(d.reason, want);
    assert.ok(d.rule);
  });
}

test('a mismatch names both names and the config line', () => {
  const d = decideServerName(normalizeHost('allowed.test'), hello('other.test'), RULES);
  assert.match(d.rule!.text, /"other\.test".*"allowed\.test"/);
  assert.equal(d.rule!.where, 'g.yaml:7');
  const m = decideServerName(normalizeHost('allowed.test'), hello(undefined), RULES);
  assert.equal(m.rule!.where, 'g.yaml:8');
});

test('report-only lets a mismatch through and says what it would have done', () => {
  const d = decideServerName(normalizeHost('allowed.test'), hello('other.test'), {
    ...RULES,
    reportOnly: true,
  });
  assert.equal(d.allowed, true);
  assert.equal(d.wouldDeny, 'sni_mismatch');
});

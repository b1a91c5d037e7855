// The destination guard and host normalisation: every spelling of an internal address is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import {
  classifyDestination,
  guardDestination,
  type GuardConfig,
} from '../../src/policy/destination-guard.js';
import { normalizeHost, splitAuthority } from '../../src/policy/egress-host.js';
import { parseCidr, type Cidr } from '../../src/net/cidr.js';

const ON: GuardConfig = { enabled: true, allow: [] };

/** Host as a client may write it → the class the guard must refuse it as. */
export const SSRF_VECTORS: [string, string][] = [
  ['127.0.0.1', 'loopback'],
  ['127.1', 'loopback'],
  ['127.0.1', 'loopback'],
  ['2130706433', 'loopback'],
  ['0x7f000001', 'loopback'],
  ['0x7f.0.0.1', 'loopback'],
  ['0177.0.0.1', 'loopback'],
  ['017700000001', 'loopback'],
  ['127.0.0.1.', 'loopback'],
  ['127.000.000.001', 'loopback'],
  ['[::1]', 'loopback'],
  ['[0:0:0:0:0:0:0:1]', 'loopback'],
  ['[::ffff:127.0.0.1]', 'ipv4_mapped'],
  ['[::ffff:7f00:1]', 'ipv4_mapped'],
  ['[::ffff:169.254.169.254]', 'ipv4_mapped'],
  ['[::127.0.0.1]', 'ipv4_mapped'], // ipaddr.js reads the dotted tail as mapped; refused either way
  ['[::7f00:1]', 'ipv4_compatible'],
  ['169.254.169.254', 'link_local'],
  ['2852039166', 'link_local'],
  ['0xa9fea9fe', 'link_local'],
  ['0251.0376.0251.0376', 'link_local'],
  ['169.254.169.254.', 'link_local'],
  ['10.0.0.1', 'private'],
  ['10.1', 'private'],
  ['012.0.0.1', 'private'],
  ['167772161', 'private'],
  ['172.16.5.4', 'private'],
  ['172.31.255.255', 'private'],
  ['192.168.1.1', 'private'],
  ['0xc0.0xa8.1.1', 'private'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.254', 'cgnat'],
  ['0.0.0.0', 'this_network'],
  ['0', 'this_network'],
  ['[::]', 'unspecified'],
  ['[fd00::1]', 'unique_local'],
  ['[fc00::1]', 'unique_local'],
  ['[fe80::1]', 'link_local'],
  ['[fec0::1]', 'site_local'],
  ['[64:ff9b::7f00:1]', 'nat64'],
  ['[64:ff9b::a9fe:a9fe]', 'nat64'],
  ['[2002:7f00:1::]', 'six_to_four'],
  ['[2002:c0a8:101::1]', 'six_to_four'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'reserved'],
  ['[ff02::1]', 'multicast'],
];

for (const [host, cls] of SSRF_VECTORS) {
  test(`guard refuses ${host} as ${cls}`, () => {
    const h = normalizeHost(host);
    assert.equal(h.kind, 'ip', `${host} should normalise to an IP, got ${JSON.stringify(h)}`);
    if (h.kind !== 'ip') return;
    const v = guardDestination(h.raw, ON);
    assert.equal(v.allowed, false);
    assert.equal(v.cls, cls);
  });
}

test('public and documentation addresses pass the guard', () => {
  for (const s of [
    '93.184.216.34',
    '198.51.100.7',
    '203.0.113.10',
    '2001:db8::10',
    '2606:4700::1111',
    '64:ff9b::5db8:d822',
  ]) {
    const v = guardDestination(ipaddr.parse(s), ON);
    assert.equal(v.allowed, true, s);
  }
});

test('unsafeAllowPrivateDestinations lets exactly its CIDR through, and names the line', () => {
  const g: GuardConfig = {
    enabled: true,
    allow: [{ cidr: parseCidr('10.0.1.0/24') as Cidr, where: 'g.yaml:9' }],
  };
  const yes = guardDestination(ipaddr.parse('10.0.1.5'), g);
  assert.equal(yes.allowed, true);
  assert.equal(yes.allowedBy?.where, 'g.yaml:9');
  assert.equal(guardDestination(ipaddr.parse('10.0.2.5'), g).allowed, false);
  assert.equal(guardDestination(ipaddr.parse('::ffff:10.0.1.5'), g).allowed, true);
});

test('denyPrivateDestinations: false turns the guard off', () => {
  assert.equal(guardDestination(ipaddr.parse('127.0.0.1'), { enabled: false, allow: [] }).allowed, true);
});

test('classify: IPv4 classes', () => {
  assert.equal(classifyDestination(ipaddr.parse('8.8.8.8')), 'public');
  assert.equal(classifyDestination(ipaddr.parse('198.18.0.1')), 'reserved');
});

const NAMES: [string, string | undefined][] = [
  ['Example.COM', 'example.com'],
  ['example.com.', 'example.com'],
  ['example.com..', 'example.com'],
  ['bücher.de', 'xn--bcher-kva.de'],
  ['under_score.example', 'under_score.example'],
  ['a b.com', undefined],
  ['exa\u0000mple.com', undefined],
  ['foo.123', undefined],
  ['[::1', undefined],
  ['[fe80::1%eth0]', undefined],
  ['', undefined],
  ['.', undefined],
  ['-bad.com', undefined],
  ['x'.repeat(300), undefined],
  // Percent-encoding is refused, not decoded (WHATWG parsing would read allowed.test).
  ['allowed%2etest', undefined],
  ['%61llowed.test', undefined],
  ['allowed.test%00', undefined],
];

for (const [input, want] of NAMES) {
  test(`normalizeHost(${JSON.stringify(input.slice(0, 20))}) → ${String(want)}`, () => {
    const h = normalizeHost(input);
    if (want === undefined) assert.equal(h.kind, 'invalid');
    else assert.deepEqual(h, { kind: 'name', text: want });
  });
}

test('splitAuthority', () => {
  assert.deepEqual(splitAuthority('example.com:443', undefined), { host: 'example.com', port: 443 });
  assert.deepEqual(splitAuthority('[::1]:8080', undefined), { host: '[::1]', port: 8080 });
  assert.deepEqual(splitAuthority('example.com', 80), { host: 'example.com', port: 80 });
  assert.equal(splitAuthority('example.com', undefined), undefined);
  assert.equal(splitAuthority('example.com:0', 80), undefined);
  assert.equal(splitAuthority('example.com:65536', 80), undefined);
  assert.equal(splitAuthority('::1:443', undefined), undefined);
  assert.equal(splitAuthority('example.com:+443', undefined), undefined);
});

test('fuzz: normalizeHost and the guard never throw', () => {
  const alphabet = '0123456789abcdefx.:[]%-_ \u00fc\u0000/@';
  for (let i = 0; i < 5000; i++) {
    const s = Array.from(
      { length: Math.floor(Math.random() * 24) },
      () => alphabet[Math.floor(Math.random() * alphabet.length)],
    ).join('');
    const h = normalizeHost(s);
    assert.ok(['name', 'ip', 'invalid'].includes(h.kind));
    if (h.kind === 'ip') assert.equal(typeof guardDestination(h.raw, ON).allowed, 'boolean');
  }
});

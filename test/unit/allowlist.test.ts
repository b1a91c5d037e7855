import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowlistAllows, matchAllowlist, parseAllowlist } from '../../src/policy/allowlist.js';
import { normalizeHost } from '../../src/policy/egress-host.js';

// The same lines were checked against Squid 5.7 (see test/e2e/egress-squid-parity.test.ts).
const FILE = [
  '# team allowlist', // 1
  '.Example.COM', // 2
  'api.github.com', // 3
  '  spaced.net\t', // 4
  'c1.org # trailing comment', // 5
  'a1.org b1.org', // 6  one entry with a space: matches nothing
  '*.wild.com', // 7  no wildcards in dstdomain
  'http://url.com/', // 8
  'dotted.com.', // 9  never matches
  '192.0.2.10', // 10
  '[2001:db8::10]', // 11
  '', // 12
  '   # indented comment', // 13
  'api.github.com', // 14 repeat
  '.bücher.de', // 15 IDN entry: squid compares bytes, we warn (not ASCII)
].join('\n');

const list = parseAllowlist(FILE, 'allowlist.txt');

const TABLE: [string, boolean][] = [
  ['example.com', true],
  ['EXAMPLE.com', true],
  ['example.com.', true],
  ['a.b.example.com', true],
  ['notexample.com', false],
  ['example.com.evil.net', false],
  ['api.github.com', true],
  ['API.GITHUB.COM.', true],
  ['github.com', false],
  ['x.api.github.com', false],
  ['spaced.net', true],
  ['c1.org', true],
  ['a1.org', false],
  ['b1.org', false],
  ['foo.wild.com', false],
  ['url.com', false],
  ['dotted.com', false],
  ['192.0.2.10', true],
  ['192.0.2.11', false],
  ['[2001:db8::10]', true],
  ['[2001:db8:0::10]', true],
  ['3221225994', true], // 192.0.2.10 spelled as a number
  ['', false],
  ['exa mple.com', false],
];

for (const [host, want] of TABLE) {
  test(`allowlist: ${JSON.stringify(host)} → ${want ? 'allowed' : 'denied'}`, () => {
    assert.equal(allowlistAllows(list, host), want);
  });
}

test('allowlist: dead entries warn with FILE:LINE and say what to write', () => {
  const w = list.warnings.join('\n');
  assert.match(w, /allowlist\.txt:6: .*whole line as one name/);
  assert.match(w, /allowlist\.txt:7: .*no wildcards.*\.example\.com/);
  assert.match(w, /allowlist\.txt:8: .*not a URL/);
  assert.match(w, /allowlist\.txt:9: .*write "dotted\.com"/);
  assert.match(w, /allowlist\.txt:14: .*repeats allowlist\.txt:3/);
  assert.match(w, /allowlist\.txt:15: .*write "\.xn--bcher-kva\.de"/);
  assert.equal(list.entries.length, 6);
});

test('allowlist: a match names the entry and its line', () => {
  const h = normalizeHost('deep.sub.example.com');
  assert.notEqual(h.kind, 'invalid');
  const e = matchAllowlist(list, h as Exclude<typeof h, { kind: 'invalid' }>);
  assert.equal(e?.where, 'allowlist.txt:2');
  assert.equal(e?.text, '.Example.COM');
});

test('allowlist: an empty file denies everything', () => {
  const empty = parseAllowlist('# nothing\n\n', 'e.txt');
  assert.equal(allowlistAllows(empty, 'example.com'), false);
});

test('allowlist: overlong lines are skipped with a warning', () => {
  const l = parseAllowlist(`${'a'.repeat(5000)}.com\nok.com\n`, 'l.txt');
  assert.equal(l.entries.length, 1);
  assert.match(l.warnings[0]!, /l\.txt:1: .*longer than/);
});

test('allowlist: fuzz: random lines never throw and random hosts always get an answer', () => {
  const alphabet = 'abc.-_*#/: \t0123456789[]%xX\u00fc\u0000';
  const rnd = (n: number) =>
    Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
  for (let i = 0; i < 300; i++) {
    const text = Array.from({ length: 20 }, () => rnd(Math.floor(Math.random() * 30))).join('\n');
    const l = parseAllowlist(text, 'fuzz.txt');
    for (let j = 0; j < 20; j++)
      assert.equal(typeof allowlistAllows(l, rnd(Math.floor(Math.random() * 40))), 'boolean');
  }
});

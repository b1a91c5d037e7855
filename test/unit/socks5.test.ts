import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseGreeting, parseRequest, Reply, reply } from '../../src/protocols/socks5.js';

const b = (...bytes: number[]) => Uint8Array.from(bytes);
const domain = (name: string, port: number) =>
  Uint8Array.from([5, 1, 0, 3, name.length, ...Buffer.from(name, 'latin1'), port >> 8, port & 255]);

// [name, bytes, expected kind, value or error substring]
const GREETINGS: [string, Uint8Array, string, unknown][] = [
  ['empty', b(), 'more', undefined],
  ['version only', b(5), 'more', undefined],
  ['no auth', b(5, 1, 0), 'ok', { consumed: 3, methods: [0] }],
  ['two methods, partial', b(5, 2, 0), 'more', undefined],
  ['two methods', b(5, 2, 2, 0, 9), 'ok', { consumed: 4, methods: [2, 0] }],
  ['SOCKS4', b(4, 1, 0), 'error', 'not SOCKS5'],
  ['zero methods', b(5, 0), 'error', 'no methods'],
];

for (const [name, bytes, kind, want] of GREETINGS) {
  test(`socks5 greeting: ${name}`, () => {
    const r = parseGreeting(bytes);
    assert.equal(r.kind, kind);
    if (r.kind === 'ok') assert.deepEqual({ consumed: r.consumed, methods: r.value.methods }, want);
    if (r.kind === 'error') assert.match(r.message, new RegExp(String(want)));
  });
}

const REQUESTS: [string, Uint8Array, string, unknown][] = [
  ['short', b(5, 1, 0), 'more', undefined],
  [
    'ipv4',
    b(5, 1, 0, 1, 10, 0, 1, 231, 0x18, 0xeb),
    'ok',
    { consumed: 10, host: '10.0.1.231', port: 6379, addressType: 'ipv4' },
  ],
  ['ipv4 partial', b(5, 1, 0, 1, 10, 0, 1, 231, 0x18), 'more', undefined],
  [
    'domain',
    domain('redis.internal', 6379),
    'ok',
    { consumed: 21, host: 'redis.internal', port: 6379, addressType: 'domain' },
  ],
  ['domain partial', domain('redis.internal', 6379).subarray(0, 12), 'more', undefined],
  ['domain with a slash', domain('a/b', 80), 'error', 'characters'],
  ['empty domain', b(5, 1, 0, 3, 0, 0, 80), 'error', 'empty domain'],
  [
    'ipv6',
    b(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x18, 0xeb),
    'ok',
    { consumed: 22, host: '2001:db8::1', port: 6379, addressType: 'ipv6' },
  ],
  ['port 0', b(5, 1, 0, 1, 10, 0, 1, 1, 0, 0), 'error', 'port 0'],
  ['address type 9', b(5, 1, 0, 9, 1, 2, 3), 'error', 'address type 9'],
  ['reserved byte set', b(5, 1, 1, 1, 10, 0, 0, 1, 0, 80), 'error', 'reserved'],
  [
    'BIND is parsed (refused by the caller)',
    b(5, 2, 0, 1, 10, 0, 0, 1, 0, 80),
    'ok',
    { consumed: 10, host: '10.0.0.1', port: 80, addressType: 'ipv4' },
  ],
];

for (const [name, bytes, kind, want] of REQUESTS) {
  test(`socks5 request: ${name}`, () => {
    const r = parseRequest(bytes);
    assert.equal(r.kind, kind);
    if (r.kind === 'ok') {
      const { host, port, addressType } = r.value;
      assert.deepEqual({ consumed: r.consumed, host, port, addressType }, want);
    }
    if (r.kind === 'error') assert.match(r.message, new RegExp(String(want)));
  });
}

test('socks5 reply is ten bytes with the code', () => {
  assert.deepEqual([...reply(Reply.notAllowed)], [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
});

test('socks5 fuzz: random and mutated input never throws, never reads past the end', () => {
  const seeds = REQUESTS.map((r) => r[1]).concat(GREETINGS.map((g) => g[1]));
  for (let i = 0; i < 20_000; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) input = randomBytes(Math.floor(Math.random() * 300));
    else {
      const seed = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 3 && seed.length > 0; k++)
        seed[Math.floor(Math.random() * seed.length)] = Math.floor(Math.random() * 256);
      input = seed.subarray(0, Math.floor(Math.random() * (seed.length + 1)));
    }
    for (const parse of [parseGreeting, parseRequest]) {
      const r = parse(input);
      if (r.kind === 'ok') {
        assert.ok(r.consumed > 0 && r.consumed <= input.length, `consumed ${r.consumed} of ${input.length}`);
        assert.ok(r.consumed <= 262);
      }
    }
    // Every prefix of a complete frame asks for more rather than failing or succeeding early.
    const full = parseRequest(input);
    if (full.kind === 'ok') {
      for (let n = 0; n < full.consumed; n++) assert.notEqual(parseRequest(input.subarray(0, n)).kind, 'ok');
    }
  }
});

// The PROXY v2 framer: the spec's layouts (haproxy doc/proxy-protocol.txt 2.2) as fixtures, the
// refusals the spec requires, bounds, CRC32C, and a seeded fuzz: mutated and random headers fed
// whole and in every split never throw, never claim more bytes than given, and agree with
// themselves whatever the chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc32c,
  formatIpv6,
  mayBeProxyV2,
  parseProxyV2,
  PP2_TYPE,
  PROXY_V2_SIGNATURE,
  tlvText,
  type ProxyV2Result,
} from '../../src/protocols/proxy-v2.js';
import { encodeProxyV2 } from '../helpers/proxy-v2-encoder.js';
import { prng } from '../helpers/prng.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('TCP over IPv4, as the spec lays it out, then the payload', () => {
  const header = hex(`0d0a0d0a000d0a515549540a 21 11 000c
    c0a80001 c0a8000b dc04 01bb`);
  const r = parseProxyV2(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]));
  assert.equal(r.state, 'done');
  if (r.state !== 'done' || r.header.command !== 'proxy' || r.header.family !== 'ipv4') throw new Error();
  assert.equal(r.consumed, 28);
  assert.deepEqual(r.header.source, { address: '192.168.0.1', port: 56324 });
  assert.deepEqual(r.header.destination, { address: '192.168.0.11', port: 443 });
  assert.equal(r.header.transport, 'stream');
});

test('TCP over IPv6, addresses written as RFC 5952 says', () => {
  const r = parseProxyV2(
    encodeProxyV2({
      source: { address: '2001:db8:0:0:1:0:0:1', port: 1 },
      destination: { address: '2001:db8::5', port: 6379 },
    }),
  );
  if (r.state !== 'done' || r.header.command !== 'proxy' || r.header.family !== 'ipv6') throw new Error();
  assert.equal(r.header.source.address, '2001:db8::1:0:0:1');
  assert.equal(r.header.destination.address, '2001:db8::5');
  assert.equal(formatIpv6(hex('00000000000000000000ffffc0000201'), 0), '::ffff:192.0.2.1');
  assert.equal(formatIpv6(Buffer.alloc(16), 0), '::');
  assert.equal(formatIpv6(hex('00010000000000000000000000000000'), 0), '1::');
});

test("LOCAL (a balancer's health check): addresses ignored, the length honoured", () => {
  // HAProxy's check-send-proxy: LOCAL, UNSPEC, no address.
  const check = hex('0d0a0d0a000d0a515549540a 20 00 0000');
  assert.deepEqual(parseProxyV2(check), {
    state: 'done',
    header: { command: 'local', tlvs: [] },
    consumed: 16,
  });
  // LOCAL with an address block anyway: skipped whole.
  const withAddr = Buffer.from(encodeProxyV2());
  withAddr[12] = 0x20;
  const r = parseProxyV2(withAddr);
  assert.equal(r.state, 'done');
  if (r.state === 'done') {
    assert.equal(r.consumed, withAddr.length);
    assert.equal(r.header.command, 'local');
  }
});

test('UNSPEC under PROXY: the connection stands, its addresses are the socket’s', () => {
  const r = parseProxyV2(hex('0d0a0d0a000d0a515549540a 21 00 0004 deadbeef'));
  assert.equal(r.state, 'done');
  if (r.state === 'done') {
    assert.equal(r.consumed, 20);
    assert.deepEqual(r.header, { command: 'proxy', family: 'unspec', tlvs: [] });
  }
});

test('incomplete headers say how many bytes are still needed', () => {
  const full = encodeProxyV2();
  assert.deepEqual(parseProxyV2(full.subarray(0, 5)), { state: 'incomplete', need: 11 });
  assert.deepEqual(parseProxyV2(full.subarray(0, 20)), { state: 'incomplete', need: full.length - 20 });
  assert.equal(mayBeProxyV2(full.subarray(0, 7)), true);
  assert.equal(mayBeProxyV2(Buffer.from('GET / H')), false);
});

test('refusals the spec requires', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['not a header at all', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /signature/],
    ['version 1 text', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /signature/],
    ['version 3', encodeProxyV2({ versionByte: 0x31 }), /version 3/],
    ['command 2', encodeProxyV2({ versionByte: 0x22 }), /command/],
    ['family 4', encodeProxyV2({ familyByte: 0x41 }), /family/],
    ['transport 3', encodeProxyV2({ familyByte: 0x13 }), /transport/],
    ['IPv6 family with an IPv4-sized block', encodeProxyV2({ familyByte: 0x21 }), /too short/],
    [
      'a TLV past the end',
      encodeProxyV2({ tlvs: [{ type: PP2_TYPE.AUTHORITY, value: Buffer.from('x') }] }).fill(0xff, 29, 31),
      /runs past the header/,
    ],
    ['a bad CRC32C', encodeProxyV2({ crc: 'bad' }), /CRC32C/],
  ];
  for (const [name, bytes, why] of cases) {
    const r = parseProxyV2(bytes);
    assert.equal(r.state, 'invalid', name);
    if (r.state === 'invalid') assert.match(r.reason, why, name);
  }
  // A length that would run past the bound is refused before waiting for it.
  const huge = hex('0d0a0d0a000d0a515549540a 21 11 ffff');
  const r = parseProxyV2(huge);
  assert.equal(r.state, 'invalid');
  if (r.state === 'invalid') assert.match(r.reason, /over the limit of 4096/);
  assert.equal(parseProxyV2(huge, 16 + 0xffff).state, 'incomplete');
});

test('TLVs: AUTHORITY and UNIQUE_ID read, a good CRC32C accepted, the TLVs tile the header', () => {
  const header = encodeProxyV2({
    tlvs: [
      { type: PP2_TYPE.AUTHORITY, value: Buffer.from('cache.example') },
      { type: PP2_TYPE.UNIQUE_ID, value: Buffer.from('id-1') },
      { type: PP2_TYPE.NOOP, value: Buffer.alloc(0) },
    ],
    crc: 'good',
  });
  const r = parseProxyV2(header);
  assert.equal(r.state, 'done');
  if (r.state !== 'done') return;
  assert.equal(tlvText(r.header, PP2_TYPE.AUTHORITY), 'cache.example');
  assert.equal(tlvText(r.header, PP2_TYPE.UNIQUE_ID), 'id-1');
  assert.equal(r.header.tlvs.length, 4);
  const cut = Buffer.from(header);
  cut.writeUInt16BE(cut.readUInt16BE(14) - 1, 14); // the last TLV now overruns
  assert.equal(parseProxyV2(cut.subarray(0, cut.length - 1)).state, 'invalid');
});

test('crc32c matches the RFC 3720 check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
});

/** Feeds `bytes` as a receiver would: growing prefixes until done or invalid. */
function feed(bytes: Buffer, cuts: number[]): ProxyV2Result {
  let r: ProxyV2Result = { state: 'incomplete', need: 1 };
  for (const end of [...cuts, bytes.length]) {
    r = parseProxyV2(bytes.subarray(0, end));
    if (r.state !== 'incomplete') return r;
  }
  return r;
}

test('fuzz: mutated and random headers never throw, stay in bounds, and do not depend on chunking', () => {
  const r = prng(0x9e0c);
  const seeds = [
    encodeProxyV2(),
    encodeProxyV2({ command: 'local' }),
    encodeProxyV2({ source: { address: '2001:db8::1', port: 5 }, destination: { address: '::1', port: 6 } }),
    encodeProxyV2({ tlvs: [{ type: PP2_TYPE.AUTHORITY, value: Buffer.from('x') }], crc: 'good' }),
    Buffer.from(PROXY_V2_SIGNATURE),
  ];
  for (let i = 0; i < 20_000; i++) {
    let b: Buffer;
    if (i % 5 === 4) {
      b = Buffer.alloc(r.int(80));
      for (let k = 0; k < b.length; k++)
        b[k] = k < 12 && r.next() < 0.8 ? PROXY_V2_SIGNATURE[k]! : r.int(256);
    } else {
      b = Buffer.from(r.pick(seeds));
      for (let m = 1 + r.int(3); m > 0; m--) {
        const at = r.int(b.length + 1);
        const op = r.int(4);
        if (op === 0 && b.length > 0) {
          const k = Math.min(at, b.length - 1);
          b[k] = b[k]! ^ (1 << r.int(8));
        } else if (op === 1)
          b = Buffer.concat([b.subarray(0, at), Buffer.from([r.int(256)]), b.subarray(at)]);
        else if (op === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        else b = b.subarray(0, at);
      }
      if (r.next() < 0.5) b = Buffer.concat([b, Buffer.from('payload')]);
    }
    const whole = parseProxyV2(b);
    if (whole.state === 'done') assert.ok(whole.consumed <= b.length && whole.consumed >= 16);
    if (whole.state === 'incomplete') assert.ok(whole.need > 0 && b.length + whole.need <= 4096);
    const cuts = [r.int(b.length + 1), r.int(b.length + 1)].sort((x, y) => x - y);
    const chunked = feed(b, cuts);
    assert.deepEqual(
      chunked.state === 'done' ? { ...chunked, header: JSON.stringify(chunked.header) } : chunked,
      whole.state === 'done' ? { ...whole, header: JSON.stringify(whole.header) } : whole,
    );
  }
});

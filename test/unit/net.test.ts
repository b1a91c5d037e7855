import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortSet, portSetHas } from '../../src/net/ports.js';
import { cidrContains, parseCidr, parseIp } from '../../src/net/cidr.js';
import { bindsCollide, parseHostPort } from '../../src/net/address.js';

test('port sets: single, range, list, all; merged and bounded', () => {
  const s = parsePortSet('6379, 11211-11213,6380');
  assert.ok(typeof s !== 'string');
  assert.deepEqual(s.ranges, [
    [6379, 6380],
    [11211, 11213],
  ]);
  for (const p of [6379, 6380, 11211, 11212, 11213]) assert.ok(portSetHas(s, p), String(p));
  for (const p of [1, 6378, 6381, 11210, 11214, 65535]) assert.ok(!portSetHas(s, p), String(p));
  const all = parsePortSet('all');
  assert.ok(typeof all !== 'string' && portSetHas(all, 1) && portSetHas(all, 65535));
  for (const bad of ['', '0', '65536', 'x', '1-', '-1', '5-3', '1,,2', '1.5']) {
    assert.equal(typeof parsePortSet(bad), 'string', bad);
  }
});

test('CIDRs: IPv4, IPv6, host routes, mapped addresses fold to IPv4', () => {
  const v4 = parseCidr('198.51.100.27/32');
  const v6 = parseCidr('2001:db8:10::/48');
  assert.ok(typeof v4 !== 'string' && typeof v6 !== 'string');
  assert.ok(cidrContains(v4, parseIp('198.51.100.27')!));
  assert.ok(!cidrContains(v4, parseIp('198.51.100.28')!));
  assert.ok(cidrContains(v4, parseIp('::ffff:198.51.100.27')!), 'IPv4-mapped source');
  assert.ok(cidrContains(v6, parseIp('2001:db8:10:ffff::1')!));
  assert.ok(!cidrContains(v6, parseIp('2001:db8:11::1')!));
  assert.ok(!cidrContains(v6, parseIp('198.51.100.27')!), 'no cross-family match');
  const host = parseCidr('10.0.0.1');
  assert.ok(typeof host !== 'string' && host.bits === 32);
  for (const bad of [
    '10.0.0.1/33',
    '10.0.0.0/x',
    '10.1',
    '0x0a.0.0.1',
    '300.0.0.0/8',
    'example.com/8',
    '10.0.0.1/8',
  ]) {
    assert.equal(typeof parseCidr(bad), 'string', bad);
  }
});

test('host:port parsing and bind collisions', () => {
  assert.deepEqual(parseHostPort('[::1]:6379'), { host: '::1', port: 6379 });
  assert.deepEqual(parseHostPort('redis.internal:6379'), { host: 'redis.internal', port: 6379 });
  assert.equal(typeof parseHostPort('::1:6379'), 'string');
  assert.equal(typeof parseHostPort('host:0'), 'string');
  assert.ok(bindsCollide({ host: '0.0.0.0', port: 1 }, { host: '127.0.0.1', port: 1 }));
  assert.ok(!bindsCollide({ host: '127.0.0.2', port: 1 }, { host: '127.0.0.1', port: 1 }));
  assert.ok(!bindsCollide({ host: '0.0.0.0', port: 1 }, { host: '0.0.0.0', port: 2 }));
});

// The limit policy alone (policy/connection-limits.ts): counts per listener and per source, the
// token bucket, the per-key concurrency gate, the workers' share, and tables that stay bounded
// however many sources come and go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcceptGate, ConcurrencyGate, MAX_KEYS, shareOf } from '../../src/policy/connection-limits.js';

const ref = (text: string) => ({ text, where: 'g.yaml:3' });

test('per listener and per source: refused at the limit with the reason and the rule, admitted again after a release', () => {
  const g = new AcceptGate();
  g.configure({
    connections: { max: 3, ref: ref('maxConnections 3') },
    perSource: { max: 2, ref: ref('maxConnectionsPerSource 2') },
  });
  assert.equal(g.admit('a', 0).allowed, true);
  assert.equal(g.admit('a', 0).allowed, true);
  assert.deepEqual(g.admit('a', 0), {
    allowed: false,
    reason: 'max_connections_per_source',
    rule: ref('maxConnectionsPerSource 2'),
  });
  assert.equal(g.admit('b', 0).allowed, true);
  assert.equal(g.admit('c', 0).reason, 'max_connections');
  g.release('a');
  assert.equal(g.admit('a', 0).allowed, true);
  assert.equal(g.connections, 3);
});

test('accept rate: a burst, then one token per 1/rate seconds', () => {
  const g = new AcceptGate();
  g.configure({ rate: { perSecond: 2, burst: 3, ref: ref('acceptRate 2/s, burst 3') } });
  for (let i = 0; i < 3; i++) assert.equal(g.admit('a', 0).allowed, true);
  assert.equal(g.admit('a', 0).reason, 'accept_rate');
  assert.equal(g.admit('a', 400).reason, 'accept_rate'); // 0.8 of a token
  assert.equal(g.admit('a', 500).allowed, true); // one token after 500 ms
  assert.equal(g.admit('b', 500).allowed, true); // another source has its own bucket
});

test('memory: a flood of distinct sources leaves no more entries than are open or refilling, and never past MAX_KEYS', () => {
  const g = new AcceptGate();
  g.configure({ perSource: { max: 10, ref: ref('x') }, rate: { perSecond: 1000, burst: 10, ref: ref('y') } });
  // 200 000 one-off sources, one per 0.1 ms, each closing at once: buckets refill in 1 ms.
  for (let i = 0; i < 200_000; i++) {
    const key = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(g.admit(key, i / 10).allowed, true);
    g.release(key);
  }
  assert.ok(g.sourceEntries <= 64, `${g.sourceEntries} entries held`);
  // All at the same instant (buckets cannot refill): capped at MAX_KEYS.
  for (let i = 0; i < MAX_KEYS + 5000; i++) {
    const key = `s${i}`;
    g.admit(key, 1e9);
    g.release(key);
  }
  assert.ok(g.sourceEntries <= MAX_KEYS + 1, `${g.sourceEntries} entries held`);
  // Open connections keep their entries (their counts are needed at release).
  g.admit('held', 1e9);
  for (let i = 0; i < 1000; i++) {
    g.admit(`t${i}`, 2e9);
    g.release(`t${i}`);
  }
  g.release('held');
  assert.equal(g.connections, 0);
});

test('concurrency per key: counted while open, refused at the limit, no entry once released', () => {
  const c = new ConcurrencyGate('max_concurrent', 'max_concurrent_per_principal');
  c.configure({ max: 3, ref: ref('maxConcurrent 3') }, { max: 2, ref: ref('maxConcurrentPerPrincipal 2') });
  assert.equal(c.acquire('u').allowed, true);
  assert.equal(c.acquire('u').allowed, true);
  assert.equal(c.acquire('u').reason, 'max_concurrent_per_principal');
  assert.equal(c.acquire('v').allowed, true);
  assert.equal(c.acquire('w').reason, 'max_concurrent');
  for (const k of ['u', 'u', 'v']) c.release(k);
  assert.equal(c.keys, 0);
  assert.equal(c.count, 0);
  c.release('never'); // a release without an acquire changes nothing
  assert.equal(c.count, 0);
});

test("a worker's share: the limit divided by the workers, rounded up; 0 stays off", () => {
  assert.equal(shareOf(1000, 1), 1000);
  assert.equal(shareOf(1000, 3), 334);
  assert.equal(shareOf(1, 4), 1);
  assert.equal(shareOf(0, 4), 0);
});

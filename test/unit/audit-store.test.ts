import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseAuditQuery, targetHost, whereClause, decisionOf, sourceIp } from '../../src/audit/query.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { tempDir } from '../helpers/temp.js';

const NOW = Date.parse('2026-01-31T12:00:00Z');

test('audit queries parse durations, ISO times and filters, and refuse bad values', () => {
  const ok = parseAuditQuery({ since: '1h', face: 'egressProxy', decision: 'denied', limit: '20' }, NOW);
  assert.ok('query' in ok);
  assert.equal(ok.query.since, NOW - 3600_000);
  assert.equal(ok.query.limit, 20);
  const iso = parseAuditQuery({ until: '2026-01-01T00:00:00Z' }, NOW);
  assert.ok('query' in iso && iso.query.until === Date.parse('2026-01-01T00:00:00Z'));
  const bad = parseAuditQuery({ since: 'yesterday', decision: 'maybe', limit: '-1' }, NOW);
  assert.ok('problems' in bad);
  assert.equal(bad.problems.length, 3);
  assert.match(bad.problems[0]!, /yesterday/);
});

test('where clauses are parameterised and escape LIKE wildcards', () => {
  const w = whereClause({ face: 'portForward', target: '50%_x', source: '10.0.0.5' });
  assert.equal(w.sql, "WHERE face = ? AND (source = ? OR source_ip = ?) AND target LIKE ? ESCAPE '\\'");
  assert.deepEqual(w.params, ['portForward', '10.0.0.5', '10.0.0.5', '%50\\%\\_x%']);
  assert.equal(whereClause({}).sql, '');
});

test('target hosts, source addresses and decisions', () => {
  assert.equal(targetHost('https://User@Example.COM:8443/a?b'), 'example.com');
  assert.equal(targetHost('example.com:443'), 'example.com');
  assert.equal(targetHost('http://[2001:db8::1]:80/'), '2001:db8::1');
  assert.equal(sourceIp('[::1]:5000'), '::1');
  assert.equal(sourceIp('10.0.0.1:5'), '10.0.0.1');
  assert.equal(decisionOf({ event: 'denied' }), 'denied');
  assert.equal(decisionOf({ event: 'closed', allowed: true }), 'allowed');
  assert.equal(decisionOf({ event: 'closed' }), undefined);
});

function ev(over: Partial<AuditEvent>): AuditEvent {
  return {
    time: new Date(NOW).toISOString(),
    event: 'accepted',
    face: 'portForward',
    listener: 'l',
    source: '10.0.0.1:1000',
    ...over,
  };
}

test('the store batches writes, queries by every field, summarises egress and prunes', async () => {
  const store = new SqliteAuditStore(':memory:', { flushMs: 10_000, batchSize: 1000 });
  store.write(ev({ allowed: true, target: '10.0.1.5:6379', identity: 'alice', session: 'a1' }));
  store.write(ev({ event: 'denied', allowed: false, source: '10.0.0.2:2000' }));
  for (let i = 0; i < 3; i++)
    store.write(
      ev({ face: 'egressProxy', event: 'closed', allowed: true, target: 'https://api.example.com:443' }),
    );
  store.write(
    ev({
      face: 'egressProxy',
      event: 'denied',
      allowed: false,
      target: 'evil.example.net:443',
      reason: 'not_allowlisted',
    }),
  );
  store.write(ev({ time: new Date(NOW - 7200_000).toISOString(), event: 'closed' }));
  // Buffered until a query flushes them.
  const all = await store.query({ limit: 100 });
  assert.equal(all.length, 7);
  assert.ok(all[0]!.id > all[1]!.id, 'newest first');
  assert.equal((await store.query({ identity: 'alice', limit: 10 })).length, 1);
  assert.equal((await store.query({ source: '10.0.0.2', limit: 10 })).length, 1);
  assert.equal((await store.query({ decision: 'denied', limit: 10 })).length, 2);
  assert.equal((await store.query({ target: 'example.com', limit: 10 })).length, 3);
  assert.equal((await store.query({ since: NOW - 3600_000, limit: 10 })).length, 6);
  assert.equal((await store.query({ face: 'egressProxy', limit: 2 })).length, 2);
  const s = await store.summary(NOW - 86_400_000);
  assert.equal(s.total, 7);
  assert.deepEqual(s.egress.topAllowed, [{ host: 'api.example.com', count: 3 }]);
  assert.deepEqual(s.egress.topDenied, [{ host: 'evil.example.net', count: 1, reason: 'not_allowlisted' }]);
  store.setRetention({ maxAge: 3600_000 });
  assert.equal(await store.prune(NOW), 1);
  store.setRetention({ maxRows: 2 });
  await store.prune(NOW);
  assert.equal(await store.count(), 2);
  await store.close();
  store.write(ev({})); // after close: dropped, no throw
});

test('a file store writes through its writer thread; a query sees every event written before it', async (t) => {
  const dir = tempDir(t, 'gh-audit-store-');
  const file = path.join(dir, 'audit.db');
  const store = new SqliteAuditStore(file, { batchSize: 50 });
  for (let i = 0; i < 120; i++) store.write(ev({ session: `s${i}`, identity: i % 2 ? 'alice' : 'bob' }));
  assert.equal(await store.count(), 120);
  assert.equal((await store.query({ identity: 'alice', limit: 1000 })).length, 60);
  store.setRetention({ maxRows: 100 });
  assert.equal(await store.prune(), 20);
  await store.close();
  await store.close(); // idempotent
  assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  const again = new SqliteAuditStore(file);
  assert.equal(await again.count(), 100, 'rows survive a restart');
  await again.close();
});

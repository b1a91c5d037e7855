// Known audit events at known times, and what a timeline of them must say: one set of cases run on
// every audit store (SQLite in test/unit/audit-timeline.test.ts, PostgreSQL in
// test/e2e/audit-timeline-pg.test.ts), so both count alike.
import assert from 'node:assert/strict';
import type { AuditEvent } from '../../src/audit/events.js';
import type { AuditStore } from '../../src/audit/store.js';
import { denseTimeline } from '../../src/audit/timeline.js';

/** 12:00:00 UTC: a multiple of every step used here, so bucket 0 starts at T0. */
export const T0 = Date.parse('2026-01-31T12:00:00Z');
const MIN = 60_000;

function at(ms: number, over: Partial<AuditEvent>): AuditEvent {
  return {
    time: new Date(T0 + ms).toISOString(),
    event: 'accepted',
    face: 'portForward',
    listener: 'nat@127.0.0.1:6380',
    source: '10.0.0.1:1000',
    ...over,
  };
}

export const TIMELINE_EVENTS: AuditEvent[] = [
  at(-1, { allowed: true }), // before the window
  at(0, { allowed: true }),
  at(10_000, { event: 'denied', allowed: false }),
  at(MIN - 1, { allowed: true }),
  at(MIN, {
    face: 'egressProxy',
    listener: 'out@127.0.0.1:3128',
    event: 'closed',
    allowed: true,
    bytesFromClient: 100,
    bytesToClient: 1000,
  }),
  at(MIN + 1000, { face: 'egressProxy', listener: 'out@127.0.0.1:3128', event: 'denied', allowed: false }),
  // A port forward's end decides nothing; its bytes count for its listener.
  at(2 * MIN + 5000, { event: 'closed', bytesFromClient: 6, bytesToClient: 7 }),
  at(2 * MIN + 10_000, { event: 'closed', bytesFromClient: 10, bytesToClient: 20 }),
  at(4 * MIN, { face: 'accessEndpoint', listener: 'dev@127.0.0.1:443', allowed: true }),
  at(4 * MIN + 1, {
    face: 'accessEndpoint',
    listener: 'dev@127.0.0.1:443',
    event: 'closed',
    bytesFromClient: 1,
    bytesToClient: 2,
  }),
  at(5 * MIN, { allowed: true }), // at `until`: outside
];

async function dense(store: AuditStore, since: number, until: number, stepMs: number, face?: string) {
  const rows = await store.timeline({ since, until, stepMs, ...(face ? { face } : {}) });
  // The store groups by bucket itself: one row per bucket and face (or listener), at its start.
  for (const list of [rows.decisions, rows.bytes]) {
    for (const r of list) assert.equal(r.t % stepMs, 0, `a bucket starts at a multiple of the step: ${r.t}`);
    const keys = list.map((r) => `${r.t} ${'listener' in r ? r.listener : r.face}`);
    assert.equal(new Set(keys).size, keys.length, 'one row per bucket and series');
  }
  return denseTimeline(since, until, stepMs, rows);
}

/** The store must hold TIMELINE_EVENTS (and nothing else) when this runs. */
export async function checkTimeline(store: AuditStore): Promise<void> {
  const t = await dense(store, T0, T0 + 5 * MIN, MIN);
  assert.deepEqual(
    t.buckets,
    [0, 1, 2, 3, 4].map((i) => new Date(T0 + i * MIN).toISOString()),
  );
  assert.deepEqual(
    t.faces.map((f) => [f.face, f.allowed, f.denied]),
    [
      ['accessEndpoint', [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
      ['egressProxy', [0, 1, 0, 0, 0], [0, 1, 0, 0, 0]],
      ['portForward', [2, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
    ],
  );
  assert.deepEqual(
    t.listeners.map((l) => [l.listener, l.face, l.bytesFromClient, l.bytesToClient]),
    [
      ['dev@127.0.0.1:443', 'accessEndpoint', [0, 0, 0, 0, 1], [0, 0, 0, 0, 2]],
      ['nat@127.0.0.1:6380', 'portForward', [0, 0, 16, 0, 0], [0, 0, 27, 0, 0]],
      ['out@127.0.0.1:3128', 'egressProxy', [0, 100, 0, 0, 0], [0, 1000, 0, 0, 0]],
    ],
  );
  assert.deepEqual(t.total, { allowed: 4, denied: 2, bytesFromClient: 117, bytesToClient: 1029 });

  // One face: only its decisions and its listeners.
  const pf = await dense(store, T0, T0 + 5 * MIN, MIN, 'portForward');
  assert.deepEqual(
    pf.faces.map((f) => f.face),
    ['portForward'],
  );
  assert.deepEqual(
    pf.listeners.map((l) => l.listener),
    ['nat@127.0.0.1:6380'],
  );

  // A coarser step sums buckets: 2m over the same five minutes is three buckets.
  const two = await dense(store, T0, T0 + 5 * MIN, 2 * MIN);
  assert.equal(two.buckets.length, 3);
  assert.deepEqual(two.faces.find((f) => f.face === 'portForward')!.allowed, [2, 0, 0]);
  assert.deepEqual(two.listeners.find((l) => l.face === 'portForward')!.bytesToClient, [0, 27, 0]);
  assert.deepEqual(two.faces.find((f) => f.face === 'accessEndpoint')!.allowed, [0, 0, 1]);

  // A window that starts inside a bucket: the bucket is drawn whole, but counts only from `since`.
  const late = await dense(store, T0 + 30_000, T0 + 90_000, MIN);
  assert.deepEqual(late.buckets, [new Date(T0).toISOString(), new Date(T0 + MIN).toISOString()]);
  assert.deepEqual(
    late.faces.map((f) => [f.face, f.allowed, f.denied]),
    [
      ['egressProxy', [0, 1], [0, 1]],
      ['portForward', [1, 0], [0, 0]],
    ],
  );

  // Nothing in the window: every bucket, no series.
  const empty = await dense(store, T0 + 10 * MIN, T0 + 20 * MIN, MIN);
  assert.equal(empty.buckets.length, 10);
  assert.deepEqual([empty.faces, empty.listeners], [[], []]);
}

// The audit timeline: the step chosen for a window, bucket alignment, and the SQLite store's
// counts per face and bytes per listener (the cases of test/helpers/timeline-fixture.ts), both in
// memory and through the writer thread of a file store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { bucketStarts, chooseStep, denseTimeline } from '../../src/audit/timeline.js';
import { checkTimeline, TIMELINE_EVENTS } from '../helpers/timeline-fixture.js';
import { tempDir } from '../helpers/temp.js';

const MIN = 60_000;

test('the chosen step cuts a window into about 60 round buckets, even a moment over', () => {
  assert.equal(chooseStep(15 * MIN), 30_000);
  assert.equal(chooseStep(60 * MIN), MIN);
  assert.equal(chooseStep(60 * MIN + 250), MIN, 'a window that reached the server late keeps its step');
  assert.equal(chooseStep(6 * 60 * MIN), 10 * MIN);
  assert.equal(chooseStep(24 * 60 * MIN), 30 * MIN);
  assert.equal(chooseStep(7 * 24 * 60 * MIN), 3 * 60 * MIN);
  assert.equal(chooseStep(365 * 24 * 60 * MIN), 24 * 60 * MIN, 'never coarser than a day');
});

test('buckets start at multiples of the step and cover the window', () => {
  const t0 = Date.parse('2026-01-31T12:00:00Z');
  assert.deepEqual(bucketStarts(t0 + 1, t0 + 2 * MIN, MIN), [t0, t0 + MIN]);
  assert.deepEqual(bucketStarts(t0, t0 + 2 * MIN + 1, MIN), [t0, t0 + MIN, t0 + 2 * MIN]);
  // Rows outside the window are not counted.
  const t = denseTimeline(t0, t0 + MIN, MIN, {
    decisions: [{ t: t0 + 5 * MIN, face: 'portForward', allowed: 1, denied: 0 }],
    bytes: [],
  });
  assert.deepEqual(t.faces, []);
});

test('SQLite (in memory): allowed and denied per face and bytes per listener, per bucket', async () => {
  const store = new SqliteAuditStore(':memory:', { flushMs: 10_000 });
  try {
    for (const e of TIMELINE_EVENTS) store.write(e);
    await checkTimeline(store);
  } finally {
    await store.close();
  }
});

test('SQLite (a file, through the writer thread): the same counts', async (t) => {
  const dir = tempDir(t, 'gh-timeline-');
  const store = new SqliteAuditStore(path.join(dir, 'audit.db'));
  try {
    for (const e of TIMELINE_EVENTS) store.write(e);
    await checkTimeline(store);
  } finally {
    await store.close();
  }
});

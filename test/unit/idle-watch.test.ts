// The shared idle timers: checks run on their interval until unwatched, checks with one interval
// share a timer, and an old unwatch never removes a newer group.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleClock, IdleTimers, idleInterval } from '../../src/pipeline/idle-watch.js';

const timers = new IdleTimers();
const watchIdle = timers.watch.bind(timers);

/** The idle timers are unref'd (they never keep a process alive): a test holds the loop open. */
async function holding<T>(body: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000);
  try {
    return await body();
  } finally {
    clearInterval(hold);
  }
}

function ticks(n: number, everyMs: number): Promise<number[]> {
  return new Promise((resolve) => {
    const seen: number[] = [];
    const unwatch = watchIdle(everyMs, (now) => {
      seen.push(now);
      if (seen.length === n) {
        unwatch();
        resolve(seen);
      }
    });
  });
}

test('idle watch: a check runs every interval, with a monotonic clock, until unwatched', () =>
  holding(async () => {
    const seen = await ticks(3, 25);
    assert.equal(seen.length, 3);
    assert.ok(seen[1]! > seen[0]! && seen[2]! > seen[1]!, 'time moves forward between ticks');
    // Unwatched inside its own check: it never runs again (a later tick of the same interval only
    // sees the newer check).
    let after = 0;
    const unwatchOld = watchIdle(25, () => after++);
    unwatchOld();
    unwatchOld(); // idempotent
    await ticks(2, 25);
    assert.equal(after, 0);
  }));

test('idle watch: checks of one interval share a tick; an old unwatch leaves a newer group alone', () =>
  holding(async () => {
    const times: Record<string, number[]> = { a: [], b: [] };
    const both = new Promise<void>((resolve) => {
      const unA = watchIdle(30, (now) => {
        times.a!.push(now);
        if (times.a!.length === 2) unA();
      });
      const unB = watchIdle(30, (now) => {
        times.b!.push(now);
        if (times.b!.length === 2) {
          unB();
          resolve();
        }
      });
    });
    await both;
    assert.deepEqual(times.a, times.b, 'the same ticks, from one timer');
    // The 30 ms group is gone; a stale unwatch from it must not stop a new one.
    const stale = watchIdle(30, () => {});
    stale();
    const fresh = ticks(2, 30);
    stale();
    assert.equal((await fresh).length, 2);
  }));

test('idle interval: a quarter of the shortest limit, within 25 ms and 1 s; 0 means no limit', () => {
  assert.equal(idleInterval(60_000), 1000);
  assert.equal(idleInterval(2000, 600), 150);
  assert.equal(idleInterval(40), 25);
  assert.equal(idleInterval(0, 800), 200);
  assert.equal(idleInterval(0), 1000);
});

test('idle clock: time since the mark last changed, restarting at each change', () => {
  const c = new IdleClock(100, 0);
  assert.equal(c.idleFor(150, 0), 50, 'unchanged since the start');
  assert.equal(c.idleFor(200, 7), 0, 'a change restarts it');
  assert.equal(c.idleFor(260, 7), 60);
  const busy = {};
  assert.equal(c.idleFor(300, busy), 0, 'an object mark (a request in flight) is a change');
  assert.equal(c.idleFor(400, busy), 100);
  assert.equal(c.idleFor(450, 7), 0, 'back to the same count after it is still a change');
});

// What a leak test measures: the live resources of this process (listening and connected sockets,
// timers) by kind, from process.getActiveResourcesInfo(), and a readable difference of two counts.
import assert from 'node:assert/strict';

export type ResourceCounts = Record<string, number>;

export function resourceCounts(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Fails with the kinds that grew (a leak) from `before` to `after`. */
export function assertNoGrowth(before: ResourceCounts, after: ResourceCounts, what: string): void {
  const grew: string[] = [];
  for (const kind of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[kind] ?? 0;
    const a = after[kind] ?? 0;
    if (a > b) grew.push(`${kind} ${b} → ${a}`);
  }
  assert.deepEqual(grew, [], `${what}: resources left behind: ${grew.join(', ')}`);
}

/**
 * Resolves once `check()` holds, polling each tick of the event loop (sockets close over a few
 * turns of it); fails after `timeoutMs` with `what`.
 */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

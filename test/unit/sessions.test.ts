import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, type Session } from '../../src/pipeline/session-registry.js';

function fake(id: string, closed: string[]): Session {
  return {
    id,
    face: 'portForward',
    listener: 'l',
    source: 's',
    target: 't',
    identity: undefined,
    startedAt: new Date(),
    bytesFromClient: 0,
    bytesToClient: 0,
    close: (reason) => closed.push(`${id}:${reason}`),
  };
}

test('whenEmpty resolves when the last session goes, or false at the deadline', async () => {
  const r = new SessionRegistry();
  assert.equal(await r.whenEmpty(10), true);
  const closed: string[] = [];
  r.add(fake('a', closed));
  r.add(fake('b', closed));
  const drained = r.whenEmpty(5000);
  r.remove('a');
  r.remove('b');
  assert.equal(await drained, true);
  r.add(fake('c', closed));
  assert.equal(await r.whenEmpty(20), false);
  assert.equal(r.terminate('c'), true);
  assert.equal(r.terminate('nope'), false);
  assert.deepEqual(closed, ['c:terminated']);
});

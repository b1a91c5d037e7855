// Descriptor exhaustion with the real daemon under a low RLIMIT_NOFILE (prlimit), in one process
// and with two workers: at EMFILE a process stops accepting, sessions it holds carry on, nothing
// crashes, and once sessions end it accepts again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse } from '../helpers/gatehouse.js';

let redis: Server;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
});

/** Opens `n` clients at once; resolves with those answered PONG (the others were refused or dropped). */
async function flood(port: number, n: number): Promise<{ answered: net.Socket[]; all: net.Socket[] }> {
  const all: net.Socket[] = [];
  const answered: net.Socket[] = [];
  await Promise.all(
    Array.from({ length: n }, () => {
      const s = net.connect({ port, host: '127.0.0.1' });
      all.push(s);
      s.on('error', () => {});
      return new Promise<void>((resolve) => {
        // A client the daemon neither serves nor closes (one left in the cluster module's queue
        // of a listener that just paused) counts as unanswered after a while.
        const timer = setTimeout(resolve, 5000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        s.once('connect', () => s.write('PING\r\n'));
        s.once('data', (d: Buffer) => {
          if (d.toString() === '+PONG\r\n') answered.push(s);
          done();
        });
        s.once('close', done);
      });
    }),
  );
  return { answered, all };
}

for (const workers of [1, 2]) {
  test(`workers: ${workers}: at the descriptor limit accepting pauses, held sessions carry on, and it resumes`, async () => {
    const port = await freePort();
    const gh = await startGatehouse(
      `workers: ${workers}
portForwards:
  main:
    address: 127.0.0.1
    forwards:
      - { listen: "${port}", target: "127.0.0.1:${redis.port}" }
admin:
  enabled: false
audit:
  store: none
`,
      { nofile: 128 },
    );
    try {
      const { answered, all } = await flood(port, 300);
      // 128 descriptors cannot hold 300 sessions of two sockets each.
      assert.ok(answered.length > 0 && answered.length < 300, `${answered.length} answered`);
      const paused = await gh.waitForLog((l) => String(l.msg).startsWith('descriptors exhausted (EMFILE)'));
      assert.ok(Number(paused.connections) > 0);
      // What was admitted before the pause still relays.
      const held = answered[0]!;
      held.write('PING\r\n');
      const [d] = (await once(held, 'data')) as [Buffer];
      assert.equal(d.toString(), '+PONG\r\n');
      assert.equal(gh.proc.exitCode, null);
      for (const s of all) s.destroy();
      await gh.waitForLog((l) => l.msg === 'descriptors free again: accepting');
      // Once every paused process listens again, a client is served (a worker that still waits
      // to resume is not given connections, so a few tries may meet only the resumed one).
      const deadline = Date.now() + 10_000;
      let r = await run('redis-cli', ['-p', String(port), 'PING']);
      while (r.stdout.trim() !== 'PONG' && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
        r = await run('redis-cli', ['-p', String(port), 'PING']);
      }
      assert.equal(r.stdout.trim(), 'PONG', r.stderr);
      assert.equal(gh.proc.exitCode, null);
      assert.equal(gh.logs.filter((l) => Number(l.level) >= 50).length, 0, 'no error logged');
    } finally {
      await gh.stop();
    }
  });
}

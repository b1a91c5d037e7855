// Reopening log files after a rotation: every line lands whole in the old file or the new one,
// none lost or doubled, and the lines written after the reopen resolved are in the new file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LogFiles } from '../../src/audit/log-files.js';
import { tempDir } from '../helpers/temp.js';

test('rename, reopen while batches are in flight: old lines in the old file, later ones in the new', async (t) => {
  const dir = tempDir(t, 'gh-logfiles-');
  const file = path.join(dir, 'audit.jsonl');
  const files = new LogFiles();
  const w = files.writer(file, 'test log');
  const all: string[] = [];
  for (let i = 0; i < 30_000; i++) {
    all.push(`before ${i} ${'x'.repeat(i % 200)}`);
    w.write(all.at(-1)!);
  }
  fs.renameSync(file, `${file}.1`);
  const reopening = files.reopen();
  // Written while the reopen waits for the write in flight: they may go to either file.
  for (let i = 0; i < 100; i++) {
    all.push(`between ${i}`);
    w.write(all.at(-1)!);
  }
  const report = await reopening;
  assert.deepEqual(report, { reopened: [file], failed: [] });
  for (let i = 0; i < 100; i++) {
    all.push(`after ${i}`);
    w.write(all.at(-1)!);
  }
  await w.close();
  const old = fs.readFileSync(`${file}.1`, 'utf8');
  const now = fs.readFileSync(file, 'utf8');
  assert.equal(old + now, all.map((l) => `${l}\n`).join(''), 'every line once, in order, whole');
  assert.ok(
    now.includes('after 0\n') && !old.includes('after'),
    'lines after the reopen are in the new file',
  );
  assert.deepEqual(files.files(), [], 'a closed writer is no longer listed');
});

test('a path that cannot be opened again is reported, and lines keep going to the open file', async (t) => {
  const dir = tempDir(t, 'gh-logfiles-');
  const sub = path.join(dir, 'logs');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'access.log');
  const files = new LogFiles();
  const w = files.writer(file, 'test log');
  const stdout = files.writer('stdout', 'stdout');
  w.write('one');
  fs.renameSync(sub, `${sub}.gone`);
  const report = await files.reopen();
  assert.deepEqual(report.reopened, []);
  assert.equal(report.failed.length, 1);
  assert.match(report.failed[0]!.error, /^cannot reopen .*access\.log: ENOENT$/);
  w.write('two');
  await w.close();
  await stdout.close();
  assert.equal(fs.readFileSync(path.join(`${sub}.gone`, 'access.log'), 'utf8'), 'one\ntwo\n');
});

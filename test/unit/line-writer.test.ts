// Batched log lines: every line written once, whole and in order, UTF-8 intact, across batch
// boundaries, and nothing left behind at close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openLineWriter } from '../../src/audit/line-writer.js';
import { tempDir } from '../helpers/temp.js';

test('line writer: many lines, long and multi-byte ones, arrive whole and in order after close', async (t) => {
  const dir = tempDir(t, 'gh-lines-');
  const file = path.join(dir, 'out.log');
  const w = openLineWriter(file, 'test log');
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    // Some lines longer than a whole batch (64 KiB), some with 2-, 3- and 4-byte characters.
    const line = i % 5000 === 7 ? `long ${i} ${'x'.repeat(70_000)}` : `line ${i} é€😀 ${'y'.repeat(i % 300)}`;
    lines.push(line);
    w.write(line);
  }
  await w.close();
  const text = fs.readFileSync(file, 'utf8');
  assert.equal(text, lines.map((l) => `${l}\n`).join(''));
  assert.equal((fs.statSync(file).mode & 0o777).toString(8), '640');
  w.write('after close');
  assert.equal(fs.readFileSync(file, 'utf8').length, text.length, 'a closed writer writes nothing');
});

test('line writer: lines written across many ticks, while batches are in flight, arrive intact', async (t) => {
  // Batch buffers are reused once their write completes: a buffer reused too early would show
  // here as lines overwritten by later ones.
  const dir = tempDir(t, 'gh-lines-');
  const file = path.join(dir, 'out.log');
  const w = openLineWriter(file, 'test log');
  const lines: string[] = [];
  for (let round = 0; round < 60; round++) {
    for (let i = 0; i < 1500; i++) {
      const line = `r${round} l${i} ${'z'.repeat((round * 7 + i) % 120)}`;
      lines.push(line);
      w.write(line);
    }
    await new Promise((r) => setTimeout(r, round % 3));
  }
  await w.close();
  assert.equal(fs.readFileSync(file, 'utf8'), lines.map((l) => `${l}\n`).join(''));
});

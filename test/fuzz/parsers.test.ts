// The quick fuzz run, part of every test run: each parser of untrusted bytes gets its corpus seeds
// as they are (regression seeds included), then FUZZ_CASES mutated cases (default 800, fewer for
// the slow ones; a few seconds in all). Properties: no throw but the parser's own error type, the
// per-target properties of targets.ts (split and whole agree), and the heap not growing with the
// number of cases. FUZZ_CASE=n replays one case of every target. Long runs: bench/fuzz-campaign.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from '../helpers/prng.js';
import { describeFinding, Fuzzer, loadSeeds, runInput } from './harness.js';
import { TARGETS } from './targets.js';

const CASES = Number(process.env.FUZZ_CASES ?? 800);
const ONE = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);

for (const target of TARGETS) {
  test(`fuzz: ${target.name} — ${target.parser}`, () => {
    const seeds = loadSeeds(target.name);
    assert.ok(seeds.length > 0, `test/fuzz/corpus/${target.name}/ has seeds`);
    const findings: string[] = [];
    // Each seed as it is: a regression seed is a case that once crashed.
    for (const seed of seeds) {
      const r = runInput(target, seed.bytes, prng(seed.bytes.length));
      if (!r.ok) findings.push(describeFinding(target.name, seed.file, seed.bytes, r.error));
    }
    const fuzzer = new Fuzzer(target, seeds);
    const cases = ONE === undefined ? Math.ceil(CASES / (target.weight ?? 1)) : 1;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < cases; i++) {
      const n = ONE ?? i;
      const r = fuzzer.case(n);
      if (!r.ok) findings.push(describeFinding(target.name, n, r.input, r.error));
    }
    const grown = process.memoryUsage().heapUsed - before;
    assert.deepEqual(findings, [], `${findings.length} finding(s); replay one with FUZZ_CASE=n`);
    // Inputs are at most 64 KB each and nothing outlives its case: growth is garbage not yet collected.
    assert.ok(grown < 256 * 1024 * 1024, `heap grew by ${grown} bytes over ${cases} cases`);
  });
}

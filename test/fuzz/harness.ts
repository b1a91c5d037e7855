// The fuzz harness: a target's seeds from test/fuzz/corpus/NAME/, and one case = one seeded PRNG
// that mutates a seed and splits the result into chunks. A case is named by its number alone
// (`caseRng(n)`), so a finding is replayed with FUZZ_CASE=n. Shared by the quick run of every test
// run (test/fuzz/parsers.test.ts) and the long campaign (bench/fuzz-campaign.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { prng, type Rng } from '../helpers/prng.js';
import { mutate, splitChunks } from './mutator.js';
import type { FuzzTarget } from './targets.js';

const CORPUS = new URL('./corpus/', import.meta.url);

export interface Seed {
  readonly file: string;
  readonly bytes: Buffer;
}

/** The seeds of a target, regression seeds (regress-*) included, in name order. */
export function loadSeeds(target: string): Seed[] {
  const dir = new URL(`${target}/`, CORPUS);
  return readdirSync(dir)
    .sort()
    .map((file) => ({ file, bytes: readFileSync(new URL(file, dir)) }));
}

/** The PRNG of case `n` of a target (targets differ by name, so case 7 of two targets differs). */
export function caseRng(target: string, n: number): Rng {
  let h = 0x811c9dc5;
  for (let i = 0; i < target.length; i++) h = Math.imul(h ^ target.charCodeAt(i), 0x01000193);
  return prng((h ^ Math.imul(n, 0x9e3779b1)) >>> 0);
}

export type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** Run one input through a target: ok, or the throw that is a finding (not the parser's own error). */
export function runInput(target: FuzzTarget, input: Buffer, rng: Rng): Outcome {
  try {
    target.run(input, (b) => splitChunks(rng, b));
    return { ok: true };
  } catch (error) {
    if (target.expected?.(error)) return { ok: true };
    return { ok: false, error };
  }
}

export class Fuzzer {
  private readonly pool: Buffer[];
  private readonly dictionary: Buffer[];

  constructor(
    readonly target: FuzzTarget,
    seeds: readonly Seed[] = loadSeeds(target.name),
  ) {
    this.pool = seeds.map((s) => s.bytes);
    this.dictionary = target.dictionary.map((t) => Buffer.from(t, 'latin1'));
  }

  /** The input of case `n` and the PRNG that goes on to split it. */
  input(n: number): { input: Buffer; rng: Rng } {
    const rng = caseRng(this.target.name, n);
    return { input: mutate(rng, this.pool, this.dictionary), rng };
  }

  case(n: number): Outcome & { input: Buffer } {
    const { input, rng } = this.input(n);
    return { ...runInput(this.target, input, rng), input };
  }
}

/** A finding as a line: the target, the case, the error and the input's first bytes in hex. */
export function describeFinding(target: string, n: number | string, input: Buffer, error: unknown): string {
  const e = error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
  return `${target} case ${n}: ${e}; input (${input.length} bytes) ${input.subarray(0, 96).toString('hex')}`;
}

// The mutator every fuzz target shares: a seed from the corpus, changed a few times over by bit
// flips, byte inserts and deletes, the parser's own tokens dropped in, truncations, splices of
// another seed, repeated slices and random bytes; then, for streaming parsers, split across random
// chunk boundaries. Seeded (test/helpers/prng.ts), so a case is the same on every run.
import type { Rng } from '../helpers/prng.js';

/** Inputs larger than this are cut: the properties are about parsing, not about copying megabytes. */
export const MAX_INPUT = 64 * 1024;

function randomBytes(r: Rng, n: number, dictionary: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const part = dictionary.length > 0 && r.next() < 0.5 ? r.pick(dictionary) : Buffer.from([r.int(256)]);
    parts.push(part);
    have += part.length;
  }
  return Buffer.concat(parts);
}

/** One input: a corpus seed with 1–6 mutations, or (1 in 16) bytes made from the dictionary. */
export function mutate(r: Rng, seeds: readonly Buffer[], dictionary: readonly Buffer[]): Buffer {
  if (seeds.length === 0 || r.int(16) === 0) return randomBytes(r, r.int(256), dictionary);
  let b = Buffer.from(r.pick(seeds));
  const rounds = 1 + r.int(6);
  for (let k = 0; k < rounds; k++) {
    const i = r.int(b.length + 1);
    switch (r.int(10)) {
      case 0: // flip one bit
        if (b.length > 0) b[i % b.length]! ^= 1 << r.int(8);
        break;
      case 1: // set a byte to an edge value
        if (b.length > 0) b[i % b.length] = r.pick([0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x3a]);
        break;
      case 2: // insert a random byte
        b = Buffer.concat([b.subarray(0, i), Buffer.from([r.int(256)]), b.subarray(i)]);
        break;
      case 3: // delete a few bytes
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + r.int(8))]);
        break;
      case 4: // a token the parser cares about, inserted or written over
        if (dictionary.length > 0) {
          const t = r.pick(dictionary);
          b = Buffer.concat([b.subarray(0, i), t, b.subarray(i + (r.next() < 0.5 ? t.length : 0))]);
        }
        break;
      case 5: // truncate
        b = b.subarray(0, i);
        break;
      case 6: // splice: this seed up to i, another from some point on
        {
          const other = r.pick(seeds);
          b = Buffer.concat([b.subarray(0, i), other.subarray(r.int(other.length + 1))]);
        }
        break;
      case 7: // repeat a slice (pipelining, repeated headers, many TLVs)
        {
          const slice = b.subarray(i, i + 1 + r.int(64));
          const times = 1 + r.int(r.next() < 0.1 ? 200 : 4);
          b = Buffer.concat([b.subarray(0, i), ...Array<Buffer>(times).fill(slice), b.subarray(i)]);
        }
        break;
      case 8: // a run of one byte (long lines, long lengths)
        b = Buffer.concat([
          b.subarray(0, i),
          Buffer.alloc(1 + r.int(r.next() < 0.1 ? 20000 : 64), r.int(256)),
          b.subarray(i),
        ]);
        break;
      default: // a number nearby made huge or negative
        b = Buffer.concat([
          b.subarray(0, i),
          Buffer.from(
            r.pick(['-1', '0', '4294967296', '99999999999999999999', '-9223372036854775809', '65536']),
          ),
          b.subarray(i),
        ]);
    }
  }
  return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b;
}

/** `b` cut at random points: single bytes, short pieces and long ones, as a socket might deliver it. */
export function splitChunks(r: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < b.length;) {
    const n = r.next() < 0.3 ? 1 : 1 + r.int(r.next() < 0.5 ? 8 : 1024);
    out.push(b.subarray(p, p + n));
    p += n;
  }
  return out;
}

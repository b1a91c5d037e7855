// Deterministic fuzzing of the RESP framer, the command tracker and the reply rewriter: captured
// fixtures mutated (bit flips, inserted/deleted/replaced bytes, splices, truncations) and
// RESP-flavoured random bytes, each fed at random chunkings. Properties: nothing throws; chunking
// never changes the framing or the error; the parser agrees with the scanner; memory stays
// bounded; and for streams without cluster replies the rewriter's output is the input, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRespScanner, FAILED, NEED_MORE } from '../../src/protocols/resp-scanner.js';
import { parseReply } from '../../src/protocols/resp-value.js';
import {
  createCommandTracker,
  createRespRewriteSession,
  type AddressMap,
} from '../../src/protocols/resp-rewrite.js';
import { prng, type Rng } from '../helpers/prng.js';

const DIR = new URL('../fixtures/resp/', import.meta.url);
const INDEX = JSON.parse(readFileSync(new URL('index.json', DIR), 'utf8')) as {
  fixtures: { name: string }[];
};
const read = (name: string) => readFileSync(new URL(name, DIR));
const SMALL = INDEX.fixtures.map((f) => f.name).filter((n) => n !== 'large-bulk');
const REPLIES = SMALL.map((n) => read(`${n}.resp`));
const REQUESTS = SMALL.map((n) => read(`${n}.req`));
const PLAIN_REPLIES = [
  'get-set',
  'get-set-resp3',
  'cluster-info',
  'hello3',
  'debug-protocol-resp2',
  'debug-protocol-resp3',
]
  .concat(['tracking-push-resp3'])
  .map((n) => read(`${n}.resp`));

const ALPHABET = Buffer.from('+-:$*_#,(!=%~>|;.?\r\n\r\n0123456789-1abcOKMOVED \x00\xff');

function randomResp(r: Rng): Buffer {
  const n = r.int(200);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = r.next() < 0.9 ? r.pick([...ALPHABET]) : r.int(256);
  return out;
}

function mutate(r: Rng, src: Buffer, pool: readonly Buffer[] = REPLIES): Buffer {
  let b = Buffer.from(src);
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    const i = r.int(b.length + 1);
    switch (r.int(7)) {
      case 0: // flip a bit
        if (b.length > 0) b[i % b.length]! ^= 1 << r.int(8);
        break;
      case 1: // insert a byte
        b = Buffer.concat([b.subarray(0, i), Buffer.from([r.pick([...ALPHABET])]), b.subarray(i)]);
        break;
      case 2: // delete a few bytes
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + r.int(4))]);
        break;
      case 3: // replace a byte with a RESP-significant one
        if (b.length > 0) b[i % b.length] = r.pick([...ALPHABET]);
        break;
      case 4: // truncate
        b = b.subarray(0, i);
        break;
      case 5: // splice another fixture in
        b = Buffer.concat([b.subarray(0, i), r.pick(pool), b.subarray(i)]);
        break;
      default: // duplicate a slice (pipelining)
        b = Buffer.concat([b, b.subarray(i, i + r.int(64))]);
    }
  }
  return b;
}

function chunk(r: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < b.length;) {
    const n = r.next() < 0.3 ? 1 : 1 + r.int(r.next() < 0.5 ? 8 : 512);
    out.push(b.subarray(p, p + n));
    p += n;
  }
  return out;
}

function frameAll(chunks: Buffer[]): { ends: number[]; error?: string } {
  const sc = createRespScanner();
  const ends: number[] = [];
  let base = 0;
  for (const c of chunks) {
    for (let p = 0; p < c.length;) {
      const e = sc.scan(c, p);
      if (e === NEED_MORE) break;
      if (e === FAILED) return { ends, error: sc.error!.code };
      ends.push(base + e);
      p = e;
    }
    base += c.length;
  }
  return { ends };
}

test('fuzz: the framer never throws, chunking never changes the outcome, the parser agrees', () => {
  const r = prng(0x5eed);
  const started = performance.now();
  const before = process.memoryUsage().heapUsed;
  let cases = 0;
  let errors = 0;
  for (; cases < 4000; cases++) {
    const input = cases % 4 === 3 ? randomResp(r) : mutate(r, r.pick(REPLIES));
    const want = frameAll([input]);
    if (want.error) errors++;
    assert.deepEqual(frameAll(chunk(r, input)), want, `case ${cases}`);
    const first = parseReply(input);
    if (want.ends.length > 0) assert.ok(first.ok && first.consumed === want.ends[0], `case ${cases}: parse`);
    else if (want.error)
      assert.ok(!first.ok && !first.incomplete && first.error.code === want.error, `case ${cases}`);
    else assert.ok(!first.ok && first.incomplete, `case ${cases}: incomplete`);
  }
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 128 * 1024 * 1024, `heap grew by ${grown}`);
  assert.ok(errors > 500 && errors < cases, `${errors} of ${cases} inputs were malformed`);
  assert.ok(performance.now() - started < 60_000);
});

test('fuzz: the tracker never throws on mutated and random requests, and stays bounded', () => {
  const r = prng(0xc0ffee);
  for (let cases = 0; cases < 2000; cases++) {
    const t = createCommandTracker({ maxPendingEntries: 64 });
    const input =
      cases % 3 === 2 ? randomResp(r) : mutate(r, Buffer.concat([r.pick(REQUESTS), r.pick(REQUESTS)]));
    for (const c of chunk(r, input)) t.feed(c);
    assert.ok(t.pending >= 0);
    for (let k = 0; k < 20; k++) {
      t.expect(r.pick([42, 43, 45, 62, 36]));
      t.replyEnded(
        r.pick([42, 43, 45, 62, 36]),
        r.int(5) - 1,
        () => r.pick(['subscribe', 'message', 'x', '']),
        r.int(4),
      );
    }
    assert.ok(t.pending >= 0, `case ${cases}`);
  }
});

test('fuzz: streams without cluster replies leave the rewriter byte for byte, whatever the requests', () => {
  const r = prng(0xbadc0de);
  const map: AddressMap = (host, port) => ({ host: `public-${host}`, port: port + 1 });
  const started = performance.now();
  let cases = 0;
  for (; cases < 3000; cases++) {
    // Mutated requests can make the tracker expect cluster replies anywhere: a reply that is not
    // shaped like one (and holds no MOVED/ASK) must still pass unchanged.
    const s = createRespRewriteSession(map);
    const req = cases % 2 === 0 ? mutate(r, r.pick(REQUESTS), REQUESTS) : r.pick(REQUESTS);
    for (const c of chunk(r, req)) s.fromClient(c);
    let input = cases % 5 === 4 ? randomResp(r) : mutate(r, r.pick(PLAIN_REPLIES), PLAIN_REPLIES);
    if (/MOVED|ASK/.test(input.toString('latin1')))
      input = Buffer.from(input.toString('latin1').replace(/MOVED|ASK/g, 'MOVE'), 'latin1');
    const out = Buffer.concat([...chunk(r, input).map(s.toClient), s.rewriter.end()]);
    assert.ok(out.equals(input), `case ${cases}`);
  }
  assert.ok(performance.now() - started < 60_000);
});

test('fuzz: mutated cluster replies through the rewriter never throw and keep valid streams valid', () => {
  const r = prng(0x1234);
  const map: AddressMap = (host, port) =>
    host === '127.0.0.1' || host.endsWith('.internal') ? { host: 'gw', port: port % 1000 } : undefined;
  for (let cases = 0; cases < 2000; cases++) {
    const i = r.int(SMALL.length);
    const s = createRespRewriteSession(map, { maxRewriteBytes: r.next() < 0.1 ? 200 : 1 << 20 });
    for (const c of chunk(r, REQUESTS[i]!)) s.fromClient(c);
    const input = cases % 2 === 0 ? REPLIES[i]! : mutate(r, REPLIES[i]!);
    const out = Buffer.concat(chunk(r, input).map(s.toClient));
    const inFrames = frameAll([input]);
    if (!inFrames.error && s.rewriter.error === undefined) {
      const outFrames = frameAll([out]);
      assert.equal(outFrames.error, undefined, `case ${cases}: output framed`);
      assert.equal(outFrames.ends.length, inFrames.ends.length, `case ${cases}: one reply out per reply in`);
    }
  }
});

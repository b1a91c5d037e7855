// RESP framer: real reply bytes captured from a redis-server 7.0 cluster (test/fixtures/resp/,
// see index.json), fed whole, at every split point, byte by byte and pipelined; RESP3 types;
// broken inputs; limits; a 300 MB bulk string streamed through without being buffered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RespLimits } from '../../src/protocols/resp-limits.js';
import { createRespScanner, FAILED, NEED_MORE } from '../../src/protocols/resp-scanner.js';
import { encodeReply, parseReply } from '../../src/protocols/resp-value.js';

const DIR = new URL('../fixtures/resp/', import.meta.url);
interface Fixture {
  name: string;
  resp: 2 | 3;
  replies: number;
  description: string;
}
const INDEX = JSON.parse(readFileSync(new URL('index.json', DIR), 'utf8')) as { fixtures: Fixture[] };
const fixture = (name: string) => readFileSync(new URL(`${name}.resp`, DIR));

interface Framed {
  ends: number[];
  types: string[];
  error?: string;
}

/** Feeds `chunks` through one scanner; frame ends are offsets in the concatenated stream. */
function frame(chunks: Buffer[], limits: Partial<RespLimits> = {}): Framed {
  const sc = createRespScanner(limits);
  const out: Framed = { ends: [], types: [] };
  let base = 0;
  for (const c of chunks) {
    let p = 0;
    while (p < c.length) {
      const e = sc.scan(c, p);
      if (e === NEED_MORE) break;
      if (e === FAILED) {
        out.error = sc.error!.code;
        return out;
      }
      assert.ok(e > p, 'progress');
      out.ends.push(base + e);
      out.types.push(String.fromCharCode(sc.frameType));
      p = e;
    }
    base += c.length;
  }
  if (sc.inFrame) out.error = 'incomplete';
  return out;
}

const bytes = (b: Buffer) => Array.from(b, (_, i) => b.subarray(i, i + 1));

test('fixtures: every captured reply stream frames into the expected number of replies', () => {
  assert.ok(INDEX.fixtures.length >= 30);
  for (const f of INDEX.fixtures) {
    const buf = fixture(f.name);
    const whole = frame([buf]);
    assert.equal(whole.error, undefined, f.name);
    assert.equal(whole.ends.length, f.replies, f.name);
    assert.equal(whole.ends.at(-1), buf.length, f.name);
  }
});

test('fixtures: fed at every split point and byte by byte, the frames are the same', () => {
  for (const f of INDEX.fixtures) {
    const buf = fixture(f.name);
    const want = frame([buf]);
    // The 300 KB fixture: every split point near the frame boundaries and a stride elsewhere.
    const step = buf.length > 20000 ? 97 : 1;
    for (let i = 0; i <= buf.length; i += i < 64 || buf.length - i < 64 ? 1 : step) {
      assert.deepEqual(frame([buf.subarray(0, i), buf.subarray(i)]), want, `${f.name} split at ${i}`);
    }
    assert.deepEqual(frame(bytes(buf)), want, `${f.name} byte by byte`);
  }
});

test('fixtures: each reply parses and encodes back to the same bytes', () => {
  for (const f of INDEX.fixtures) {
    const buf = fixture(f.name);
    let p = 0;
    for (const end of frame([buf]).ends) {
      const r = parseReply(buf, p);
      assert.ok(r.ok, f.name);
      assert.equal(r.consumed, end - p, f.name);
      assert.ok(encodeReply(r.value).equals(buf.subarray(p, end)), `${f.name} round trip at ${p}`);
      p = end;
    }
  }
});

test('pipelined: all fixtures back to back, in random chunk sizes', () => {
  const all = Buffer.concat(INDEX.fixtures.map((f) => fixture(f.name)));
  const total = INDEX.fixtures.reduce((n, f) => n + f.replies, 0);
  const want = frame([all]);
  assert.equal(want.ends.length, total);
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  for (let round = 0; round < 20; round++) {
    const chunks: Buffer[] = [];
    for (let p = 0; p < all.length;) {
      const n = 1 + Math.floor(rnd() * (round < 10 ? 16 : 4096));
      chunks.push(all.subarray(p, p + n));
      p += n;
    }
    assert.deepEqual(frame(chunks), want, `round ${round}`);
  }
});

test('RESP3: every type Redis writes (DEBUG PROTOCOL after HELLO 3) frames and parses', () => {
  const buf = fixture('debug-protocol-resp3');
  const f = frame([buf]);
  // string integer double bignum null array set map attrib(+string) push string verbatim true false
  assert.deepEqual(f.types, ['$', ':', ',', '(', '_', '*', '~', '%', '$', '>', '$', '=', '#', '#']);
  const values = [];
  let p = 0;
  for (const end of f.ends) {
    const r = parseReply(buf, p);
    assert.ok(r.ok);
    values.push(r.value);
    p = end;
  }
  assert.deepEqual(values[2], { type: 'double', text: '3.141' });
  assert.equal(values[8]!.type, 'bulk');
  assert.equal(values[8]!.attributes?.length, 2, 'the attribute travels with the value it annotates');
  assert.deepEqual(values[9]!.type, 'push');
  assert.deepEqual(values[12], { type: 'boolean', value: true });
  const hello = parseReply(fixture('hello3'));
  assert.ok(hello.ok && hello.value.type === 'map');
});

test('RESP3: streamed strings and aggregates, attributes inside aggregates, empty forms', () => {
  const cases: [string, number][] = [
    ['$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n', 1],
    ['$?\r\n;0\r\n', 1],
    ['*?\r\n:1\r\n:2\r\n.\r\n', 1],
    ['~?\r\n.\r\n', 1],
    ['%?\r\n+a\r\n:1\r\n+b\r\n*?\r\n$?\r\n;1\r\nx\r\n;0\r\n.\r\n.\r\n', 1],
    ['*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n', 1],
    ['|0\r\n+OK\r\n', 1],
    ['*0\r\n%0\r\n~0\r\n>0\r\n$0\r\n\r\n*-1\r\n$-1\r\n_\r\n', 8],
    [',inf\r\n,-inf\r\n,nan\r\n,1e+300\r\n,-0.5\r\n,10\r\n(-12345678901234567890\r\n:-7\r\n:+7\r\n', 9],
    ['!21\r\nSYNTAX invalid syntax\r\n=15\r\ntxt:Some string\r\n', 2],
  ];
  for (const [text, n] of cases) {
    const buf = Buffer.from(text, 'latin1');
    const want = frame([buf]);
    assert.equal(want.error, undefined, text);
    assert.equal(want.ends.length, n, text);
    assert.deepEqual(frame(bytes(buf)), want, text);
    const r = parseReply(buf);
    assert.ok(r.ok, text);
  }
  const s = parseReply(Buffer.from('$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n'));
  assert.ok(
    s.ok && s.value.type === 'bulk' && s.value.bytes?.toString() === 'Hello word',
    'the chunks joined',
  );
  const m = parseReply(Buffer.from('%?\r\n+a\r\n:1\r\n.\r\n'));
  assert.ok(m.ok && m.value.type === 'map');
  assert.equal(encodeReply(m.value).toString(), '%?\r\n+a\r\n:1\r\n.\r\n');
});

test('broken inputs give a protocol error value, whole and byte by byte', () => {
  const long = 'x'.repeat(64 * 1024 + 1);
  const table: [string, string][] = [
    ['?\r\n', 'bad_type'],
    ['\r\n', 'bad_type'],
    ['*1\r\n\r\n', 'bad_type'],
    ['$abc\r\nxyz\r\n', 'bad_length'],
    ['$-2\r\n', 'bad_length'],
    ['$+3\r\nabc\r\n', 'bad_length'],
    ['$1234567890123456\r\n', 'bad_length'],
    ['*x\r\n', 'bad_length'],
    ['%-1\r\n', 'bad_length'],
    ['>?\r\n', 'bad_length'],
    ['$3\r\nabcd\r\n', 'missing_crlf'],
    ['$3\r\nab\r\n\r\n', 'missing_crlf'],
    ['+OK\n', 'missing_crlf'],
    ['+OK\rX', 'missing_crlf'],
    ['+O\nK\r\n', 'missing_crlf'],
    [`+${long}\r\n`, 'line_too_long'],
    [`-${long}`, 'line_too_long'],
    ['*1\r\n'.repeat(65) + ':1\r\n', 'too_deep'],
    [':12a\r\n', 'bad_value'],
    [':\r\n', 'bad_value'],
    [':123456789012345678901\r\n', 'bad_value'],
    ['#x\r\n', 'bad_value'],
    ['_x\r\n', 'bad_value'],
    [',1.2.3\r\n', 'bad_value'],
    [',e5\r\n', 'bad_value'],
    ['(12x\r\n', 'bad_value'],
    ['.\r\n', 'unexpected_end'],
    ['*1\r\n.\r\n', 'unexpected_end'],
    ['*?\r\n.x\r\n', 'bad_value'],
    ['$?\r\n+OK\r\n', 'bad_type'],
    [';3\r\nabc\r\n', 'bad_type'],
    ['$?\r\n;x\r\n', 'bad_length'],
  ];
  for (const [text, code] of table) {
    const buf = Buffer.from(text, 'latin1');
    assert.equal(frame([buf]).error, code, JSON.stringify(text.slice(0, 40)));
    assert.equal(frame(bytes(buf)).error, code, `byte by byte ${JSON.stringify(text.slice(0, 40))}`);
    const r = parseReply(buf);
    assert.ok(!r.ok && !r.incomplete && r.error.kind === 'resp_protocol_error' && r.error.code === code);
  }
  // A failed scanner stays failed and reports where.
  const sc = createRespScanner();
  assert.equal(sc.scan(Buffer.from('+OK\r\n:1\r\n$x\r\n'), 0), 5);
  assert.equal(sc.scan(Buffer.from('+OK\r\n:1\r\n$x\r\n'), 5), 9);
  assert.equal(sc.scan(Buffer.from('+OK\r\n:1\r\n$x\r\n'), 9), FAILED);
  assert.equal(sc.error?.offset, 9);
  assert.equal(sc.scan(Buffer.from('+OK\r\n'), 0), FAILED);
});

test('limits: line length, depth, aggregate and bulk sizes are hard caps', () => {
  const okLine = Buffer.from(`+${'y'.repeat(64 * 1024)}\r\n`);
  assert.equal(frame([okLine]).error, undefined);
  assert.equal(frame(bytes(okLine)).error, undefined);
  const deep = Buffer.from('*1\r\n'.repeat(64) + ':1\r\n');
  assert.equal(frame([deep]).error, undefined);
  assert.equal(frame([Buffer.from('*1\r\n*1\r\n*1\r\n:1\r\n')], { maxDepth: 2 }).error, 'too_deep');
  assert.equal(frame([Buffer.from('*1001\r\n')], { maxAggregateLength: 1000 }).error, 'aggregate_too_long');
  assert.equal(frame([Buffer.from('%501\r\n')], { maxAggregateLength: 1000 }).error, 'aggregate_too_long');
  assert.equal(frame([Buffer.from('$1001\r\n')], { maxBulkLength: 1000 }).error, 'bulk_too_long');
  assert.equal(frame([Buffer.from('+abcdef\r\n')], { maxLineLength: 4 }).error, 'line_too_long');
  assert.equal(frame([Buffer.from('+abc\r\n')], { maxLineLength: 4 }).error, undefined);
  assert.equal(frame(bytes(Buffer.from('+abcdef\r\n')), { maxLineLength: 4 }).error, 'line_too_long');
});

test('a 300 MB bulk string streams through in 64 KiB chunks without being buffered', () => {
  const size = 300 * 1024 * 1024;
  const sc = createRespScanner();
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  assert.equal(sc.scan(Buffer.from(`+OK\r\n$${size}\r\n`), 0), 5);
  assert.equal(sc.scan(Buffer.from(`+OK\r\n$${size}\r\n`), 5), NEED_MORE);
  for (let sent = 0; sent < size; sent += chunk.length) assert.equal(sc.scan(chunk, 0), NEED_MORE);
  assert.ok(sc.inFrame);
  const tail = Buffer.from('\r\n:1\r\n');
  assert.equal(sc.scan(tail, 0), 2);
  assert.equal(sc.scan(tail, 2), 6);
  assert.equal(sc.offset, 5 + `$${size}\r\n`.length + size + 6);
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${grown} bytes`);
});

test('frame facts: type, length, first element and last integer of pub/sub frames', () => {
  for (const name of ['pubsub', 'pubsub-resp3']) {
    const buf = fixture(name);
    const sc = createRespScanner();
    const seen: string[] = [];
    for (let p = 0; p < buf.length;) {
      p = sc.scan(buf, p);
      assert.ok(p > 0);
      const t = String.fromCharCode(sc.frameType);
      seen.push(`${t}${sc.frameLength}:${sc.frameHead()}:${sc.frameLastInteger}`);
    }
    const agg = name === 'pubsub' ? '*' : '>';
    assert.deepEqual(seen.slice(0, 3), [
      `${agg}3:subscribe:1`,
      `${agg}3:subscribe:2`,
      `${agg}3:psubscribe:3`,
    ]);
    assert.equal(seen[3], name === 'pubsub' ? '*2:pong:NaN' : '+-1::NaN');
    assert.deepEqual(seen.slice(4, 6), [`${agg}3:message:NaN`, `${agg}4:pmessage:NaN`]);
    assert.deepEqual(seen.slice(6, 9), [
      `${agg}3:unsubscribe:2`,
      `${agg}3:unsubscribe:1`,
      `${agg}3:punsubscribe:0`,
    ]);
    assert.equal(seen[10], '--1::NaN', 'the MOVED error');
  }
});

test('scanRun: counts whole replies, stops before errors, pushes and attributes, and at max', () => {
  const sc = createRespScanner();
  const b = Buffer.from('+OK\r\n$3\r\nabc\r\n:1\r\n-ERR x\r\n>1\r\n+p\r\n|0\r\n+a\r\n*1\r\n$2\r\nab');
  assert.equal(sc.scanRun(b, 0, Infinity), 18);
  assert.equal(sc.runCount, 3);
  assert.equal(sc.scanRun(b, 0, 2), 5 + 9);
  const sc2 = createRespScanner();
  assert.equal(sc2.scanRun(b, 0, 2), 14);
  assert.equal(sc2.runCount, 2);
  assert.equal(sc2.scan(b, 14), 18);
  assert.equal(sc2.scan(b, 18), 26);
  assert.equal(sc2.scanRun(b, 26, Infinity), 26, 'stops before a push');
  assert.equal(sc2.scan(b, 26), 34);
  assert.equal(sc2.scanRun(b, 34, Infinity), 34, 'stops before an attribute');
  assert.equal(sc2.scan(b, 34), 42);
  assert.equal(sc2.scanRun(b, 42, Infinity), b.length, 'the last reply continues in the next chunk');
  assert.equal(sc2.runCount, 0);
  assert.ok(sc2.inFrame);
  assert.equal(sc2.scanRun(Buffer.from('\r\n'), 0, Infinity), 2);
  assert.equal(sc2.runCount, 1);
  assert.equal(createRespScanner().scanRun(Buffer.from('+OK\r\n$x\r\n'), 0, Infinity), FAILED);
});

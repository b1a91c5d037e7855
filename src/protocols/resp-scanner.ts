// RESP2 + RESP3 reply framing: an incremental, bounded scanner.
//
// The scanner (`createRespScanner`) walks reply bytes and reports where each top-level reply ends.
// It keeps no copy of what it has seen except a partial header line (at most `maxLineLength`
// bytes) and never buffers a bulk payload, so a relay can forward the caller's chunks as they are
// and a 500 MB bulk string costs one length comparison per chunk. resp-value.ts materialises the
// few replies that must change. A protocol error is a value (`RespProtocolError`), never a throw.
// The format it reads (type bytes, number lines) is in resp-format.ts, its bounds in resp-limits.ts.
import * as format from './resp-format.js';
import {
  DEFAULT_RESP_LIMITS,
  type RespErrorCode,
  type RespLimits,
  type RespProtocolError,
} from './resp-limits.js';

/** `scan()` returned before a reply ended: the chunk is used up, state is kept for the next one. */
export const NEED_MORE = -1;
/** `scan()` found a protocol error (see `error`); the scanner stays failed until `reset()`. */
export const FAILED = -2;

export interface RespScanner {
  /**
   * Scans `chunk` from `start` and returns the offset just past the first top-level reply that
   * ends in it, `NEED_MORE` when the chunk ends inside a reply, or `FAILED`. Call again from the
   * returned offset for the next reply. Chunks may split the stream at any byte.
   */
  scan(chunk: Uint8Array, start: number): number;
  /**
   * Fast path for replies that need no inspection: scans up to `max` whole replies from `start`
   * (a reply boundary), stopping before an error (`-`), a push (`>`) or an attribute (`|`).
   * Returns the offset reached (the chunk's length if the last reply continues in the next chunk)
   * or `FAILED`; `runCount` says how many replies were completed. Frame facts are not kept.
   */
  scanRun(chunk: Uint8Array, start: number, max: number): number;
  readonly runCount: number;
  /** True between the first byte of a reply and its last one. */
  readonly inFrame: boolean;
  readonly error: RespProtocolError | undefined;
  /** Bytes consumed so far (the stream offset of the next byte). */
  readonly offset: number;
  /** The last completed top-level reply (an attribute prefix is skipped): its type byte… */
  readonly frameType: number;
  /** …its announced element count (aggregates; -1 for null, streamed or scalars)… */
  readonly frameLength: number;
  /** …the last integer among its direct elements (NaN if none)… */
  readonly frameLastInteger: number;
  /** …and its first element when that is a string of at most 32 bytes (else ''), as latin1. */
  frameHead(): string;
  reset(): void;
}

export function createRespScanner(limits: Partial<RespLimits> = {}): RespScanner {
  return new Scanner({ ...DEFAULT_RESP_LIMITS, ...limits });
}

const CR = 13;
const LF = 10;
const HEAD_MAX = 32;

// Parser states.
const S_LINE = 0; // expecting a header line (type byte first)
const S_BULK = 1; // inside a bulk payload
const S_CR = 2; // payload done, expecting CR
const S_LF = 3; // expecting LF after the payload CR
const S_FAILED = 4;

// Level flags.
const F_ATTR = 1;
const F_STREAM = 2; // streamed aggregate: ends with `.`
const F_STRCHUNKS = 4; // streamed string: `;<len>` chunks, ends with `;0`

// Local copies: imported bindings are read through accessors under some loaders (tsx), and these
// are used for every header line.
const { parseLength, parseSignedInt, validDouble } = format;
const {
  simple: T_SIMPLE,
  error: T_ERROR,
  integer: T_INT,
  bulk: T_BULK,
  blobError: T_BLOBERR,
  verbatim: T_VERB,
  array: T_ARRAY,
  set: T_SET,
  push: T_PUSH,
  map: T_MAP,
  attribute: T_ATTR,
  null: T_NULL,
  boolean: T_BOOL,
  double: T_DOUBLE,
  bigNumber: T_BIGNUM,
} = format.RESP_TYPE;
const T_CHUNK = 59; // ';'
const T_END = 46; // '.'

class Scanner implements RespScanner {
  private readonly lim: RespLimits;
  private st = S_LINE;
  private depth = 0;
  private readonly counts: Float64Array;
  private readonly flags: Uint8Array;
  private bulkLeft = 0;
  private base = 0; // stream offset of chunk[0] in the current scan() call
  private consumed = 0;
  // A header line split across chunks.
  private lineBuf: Uint8Array | undefined;
  private lineLen = 0;
  private pendingLF = false;
  private inLine = false;
  // Facts about the frame being scanned and the last completed one.
  private curType = 0;
  private curLength = -1;
  private curLastInt = NaN;
  private headWanted = false;
  private headCapture = false;
  private readonly headBuf = new Uint8Array(HEAD_MAX);
  private headLen = 0;
  inFrame = false;
  frameType = 0;
  frameLength = -1;
  frameLastInteger = NaN;
  private lastHeadLen = 0;
  private readonly lastHead = new Uint8Array(HEAD_MAX);
  error: RespProtocolError | undefined;

  constructor(lim: RespLimits) {
    this.lim = lim;
    this.counts = new Float64Array(lim.maxDepth + 1);
    this.flags = new Uint8Array(lim.maxDepth + 1);
  }

  get offset(): number {
    return this.consumed;
  }

  frameHead(): string {
    let s = '';
    for (let i = 0; i < this.lastHeadLen; i++) s += String.fromCharCode(this.lastHead[i]!);
    return s;
  }

  reset(): void {
    this.st = S_LINE;
    this.depth = 0;
    this.bulkLeft = 0;
    this.lineLen = 0;
    this.pendingLF = false;
    this.inLine = false;
    this.inFrame = false;
    this.headWanted = false;
    this.headCapture = false;
    this.error = undefined;
    this.consumed = 0;
  }

  runCount = 0;
  private runMax = 1;

  scanRun(b: Uint8Array, start: number, max: number): number {
    this.runCount = 0;
    if (this.st === S_FAILED) return FAILED;
    if (max <= 0 || start >= b.length || !this.mayRun(b[start]!)) return start;
    this.runMax = max;
    this.base = this.consumed - start;
    const r = this.run(b, start);
    if (r === FAILED) return FAILED;
    const end = r === NEED_MORE ? b.length : r;
    this.consumed = this.base + end;
    return end;
  }

  private mayRun(t: number): boolean {
    return t !== T_ERROR && t !== T_PUSH && t !== T_ATTR;
  }

  /** A reply ended before b[i]: go on with the next one in the same call (scanRun) or return. */
  private more(b: Uint8Array, i: number): boolean {
    return ++this.runCount < this.runMax && i < b.length && this.mayRun(b[i]!);
  }

  private fail(code: RespErrorCode, message: string, at: number): number {
    this.st = S_FAILED;
    this.error = { kind: 'resp_protocol_error', code, message, offset: this.base + at };
    return FAILED;
  }

  scan(b: Uint8Array, start: number): number {
    if (this.st === S_FAILED) return FAILED;
    this.runMax = 1;
    this.runCount = 0;
    this.base = this.consumed - start;
    const r = this.run(b, start);
    if (r >= 0) this.consumed = this.base + r;
    else if (r === NEED_MORE) this.consumed = this.base + b.length;
    return r;
  }

  private run(b: Uint8Array, start: number): number {
    const n = b.length;
    let i = start;
    while (i < n) {
      const st = this.st;
      if (st === S_BULK) {
        const avail = n - i;
        const left = this.bulkLeft;
        if (this.headCapture) this.captureHead(b, i, Math.min(avail, left));
        if (avail < left) {
          this.bulkLeft = left - avail;
          return NEED_MORE;
        }
        i += left;
        this.bulkLeft = 0;
        this.st = S_CR;
        continue;
      }
      if (st === S_CR) {
        if (b[i] !== CR) return this.fail('missing_crlf', 'bulk payload not followed by CRLF', i);
        i++;
        this.st = S_LF;
        continue;
      }
      if (st === S_LF) {
        if (b[i] !== LF) return this.fail('missing_crlf', 'bulk payload not followed by CRLF', i);
        i++;
        this.st = S_LINE;
        this.headCapture = false;
        const d = this.depth;
        if (d > 0 && (this.flags[d - 1]! & F_STRCHUNKS) !== 0) continue; // next chunk header
        if (this.valueDone()) {
          if (this.more(b, i)) continue;
          return i;
        }
        continue;
      }
      // S_LINE: a header line.
      if (!this.inLine) {
        // Fast path: the whole line is in this chunk.
        let j = i;
        const max = i + this.lim.maxLineLength + 2; // type byte + content + CR
        const stop = max < n ? max : n;
        let c = 0;
        while (j < stop) {
          c = b[j]!;
          if (c === CR || c === LF) break;
          j++;
        }
        if (j < n && c === LF) return this.fail('missing_crlf', 'line feed without carriage return', j);
        if (j === max)
          return this.fail('line_too_long', `line longer than ${this.lim.maxLineLength} bytes`, i);
        if (j === n || j + 1 === n) {
          // The line (or its LF) continues in the next chunk.
          this.holdLine(b, i, j);
          this.pendingLF = j + 1 === n;
          this.inFrame = true;
          return NEED_MORE;
        }
        if (b[j + 1] !== LF) return this.fail('missing_crlf', 'carriage return without line feed', j + 1);
        this.inFrame = true;
        const r = this.line(b, i, j, i);
        if (r === FAILED) return FAILED;
        i = j + 2;
        if (r === 1) {
          if (this.more(b, i)) continue;
          return i;
        }
        continue;
      }
      // Slow path: completing a line held from earlier chunks.
      if (this.pendingLF) {
        if (b[i] !== LF) return this.fail('missing_crlf', 'carriage return without line feed', i);
        i++;
        this.inLine = false;
        this.pendingLF = false;
        const r = this.line(this.lineBuf!, 0, this.lineLen, i - 1 - this.lineLen - 1);
        if (r === FAILED) return FAILED;
        if (r === 1) {
          if (this.more(b, i)) continue;
          return i;
        }
        continue;
      }
      let j = i;
      let c = 0;
      while (j < n) {
        c = b[j]!;
        if (c === CR || c === LF) break;
        j++;
      }
      if (this.lineLen + (j - i) > this.lim.maxLineLength + 1) {
        return this.fail('line_too_long', `line longer than ${this.lim.maxLineLength} bytes`, i);
      }
      if (j < n && c === LF) return this.fail('missing_crlf', 'line feed without carriage return', j);
      this.appendLine(b, i, j);
      if (j === n) return NEED_MORE;
      if (j + 1 === n) {
        this.pendingLF = true;
        return NEED_MORE;
      }
      if (b[j + 1] !== LF) return this.fail('missing_crlf', 'carriage return without line feed', j + 1);
      this.inLine = false;
      const r = this.line(this.lineBuf!, 0, this.lineLen, j - this.lineLen);
      if (r === FAILED) return FAILED;
      i = j + 2;
      if (r === 1) {
        if (this.more(b, i)) continue;
        return i;
      }
    }
    return NEED_MORE;
  }

  private holdLine(b: Uint8Array, s: number, e: number): void {
    this.inLine = true;
    this.lineLen = 0;
    this.appendLine(b, s, e);
  }

  private appendLine(b: Uint8Array, s: number, e: number): void {
    const need = this.lineLen + (e - s);
    let buf = this.lineBuf;
    if (buf === undefined || buf.length < need) {
      const grown = new Uint8Array(Math.min(this.lim.maxLineLength + 1, Math.max(64, need * 2)));
      if (buf !== undefined) grown.set(buf.subarray(0, this.lineLen));
      buf = this.lineBuf = grown;
    }
    buf.set(b.subarray(s, e), this.lineLen);
    this.lineLen = need;
  }

  private captureHead(b: Uint8Array, s: number, len: number): void {
    const take = Math.min(len, HEAD_MAX - this.headLen);
    for (let k = 0; k < take; k++) this.headBuf[this.headLen + k] = b[s + k]!;
    this.headLen += take;
  }

  /**
   * One header line: type byte at b[s], content [s+1, e). `at` is the chunk offset of the line
   * for error reporting (approximate for lines held across chunks). Returns 1 when a top-level
   * frame completed, 0 to continue, FAILED on error.
   */
  private line(b: Uint8Array, s: number, e: number, at: number): number {
    if (e === s) return this.fail('bad_type', 'empty line where a type byte was expected', at);
    const t = b[s]!;
    const cs = s + 1;
    const d = this.depth;
    const parentFlags = d > 0 ? this.flags[d - 1]! : 0;
    if ((parentFlags & F_STRCHUNKS) !== 0) {
      if (t !== T_CHUNK) return this.fail('bad_type', 'streamed string expects `;` chunks', at);
      const len = parseLength(b, cs, e, false);
      if (len < 0) return this.fail('bad_length', 'bad streamed string chunk length', at);
      if (len > this.lim.maxBulkLength) return this.fail('bulk_too_long', 'streamed chunk too long', at);
      if (len === 0) {
        this.depth = d - 1;
        return this.valueDone() ? 1 : 0;
      }
      this.bulkLeft = len;
      this.st = S_BULK;
      return 0;
    }
    const top = d === 0;
    let bulkHead = false;
    if (top && t !== T_ATTR) {
      this.curType = t;
      this.curLength = -1;
      this.curLastInt = NaN;
      this.headLen = 0;
      this.headWanted = false;
    } else if (d === 1 && this.headWanted) {
      this.headWanted = false;
      if (t === T_SIMPLE) this.captureHead(b, cs, e - cs);
      else bulkHead = t === T_BULK;
    }
    switch (t) {
      case T_SIMPLE:
      case T_ERROR:
        return this.valueDone() ? 1 : 0;
      case T_INT: {
        const v = parseSignedInt(b, cs, e);
        if (Number.isNaN(v) || e - cs > 20) return this.fail('bad_value', 'bad integer', at);
        if (d === 1) this.curLastInt = v;
        return this.valueDone() ? 1 : 0;
      }
      case T_BIGNUM: {
        if (Number.isNaN(parseSignedInt(b, cs, e))) return this.fail('bad_value', 'bad big number', at);
        return this.valueDone() ? 1 : 0;
      }
      case T_DOUBLE:
        if (!validDouble(b, cs, e)) return this.fail('bad_value', 'bad double', at);
        return this.valueDone() ? 1 : 0;
      case T_NULL:
        if (e !== cs) return this.fail('bad_value', 'null with content', at);
        return this.valueDone() ? 1 : 0;
      case T_BOOL:
        if (e - cs !== 1 || (b[cs] !== 116 && b[cs] !== 102))
          return this.fail('bad_value', 'bad boolean', at);
        return this.valueDone() ? 1 : 0;
      case T_BULK:
      case T_BLOBERR:
      case T_VERB: {
        if (t === T_BULK && e - cs === 1 && b[cs] === 63) {
          // `$?`: a streamed string.
          if (d >= this.lim.maxDepth)
            return this.fail('too_deep', `nesting deeper than ${this.lim.maxDepth}`, at);
          this.flags[d] = F_STRCHUNKS;
          this.counts[d] = 0;
          this.depth = d + 1;
          return 0;
        }
        const len = parseLength(b, cs, e, t === T_BULK);
        if (len === -2) return this.fail('bad_length', 'bad string length', at);
        if (len === -1) return this.valueDone() ? 1 : 0;
        if (len > this.lim.maxBulkLength) {
          return this.fail('bulk_too_long', `string longer than ${this.lim.maxBulkLength} bytes`, at);
        }
        if (bulkHead && len <= HEAD_MAX) this.headCapture = true;
        this.bulkLeft = len;
        this.st = S_BULK;
        return 0;
      }
      case T_ARRAY:
      case T_SET:
      case T_PUSH:
      case T_MAP:
      case T_ATTR: {
        const streamed = e - cs === 1 && b[cs] === 63;
        if (streamed && (t === T_PUSH || t === T_ATTR))
          return this.fail('bad_length', 'bad aggregate length', at);
        const len = streamed ? 0 : parseLength(b, cs, e, t === T_ARRAY);
        if (len === -2) return this.fail('bad_length', 'bad aggregate length', at);
        if (top && t !== T_ATTR) this.curLength = streamed ? -1 : len;
        if (len === -1) return this.valueDone() ? 1 : 0;
        const count = t === T_MAP || t === T_ATTR ? len * 2 : len;
        if (count > this.lim.maxAggregateLength) {
          return this.fail('aggregate_too_long', `aggregate longer than ${this.lim.maxAggregateLength}`, at);
        }
        if (!streamed && count === 0) {
          if (t === T_ATTR) return 0; // an empty attribute: the annotated value follows
          return this.valueDone() ? 1 : 0;
        }
        if (d >= this.lim.maxDepth)
          return this.fail('too_deep', `nesting deeper than ${this.lim.maxDepth}`, at);
        this.flags[d] = (t === T_ATTR ? F_ATTR : 0) | (streamed ? F_STREAM : 0);
        this.counts[d] = count;
        this.depth = d + 1;
        if (top && t !== T_ATTR && t !== T_MAP) this.headWanted = true;
        return 0;
      }
      case T_END: {
        if (d === 0 || (parentFlags & F_STREAM) === 0) {
          return this.fail('unexpected_end', 'end marker outside a streamed aggregate', at);
        }
        if (e !== cs) return this.fail('bad_value', 'end marker with content', at);
        this.depth = d - 1;
        return this.valueDone() ? 1 : 0;
      }
      default:
        return this.fail('bad_type', `unknown type byte 0x${t.toString(16).padStart(2, '0')}`, at);
    }
  }

  /** A value ended at the current depth. True when that completed a top-level frame. */
  private valueDone(): boolean {
    let d = this.depth;
    while (d > 0) {
      const k = d - 1;
      const f = this.flags[k]!;
      if ((f & F_STREAM) !== 0) return false;
      const left = this.counts[k]! - 1;
      this.counts[k] = left;
      if (left > 0) return false;
      d = k;
      this.depth = d;
      if ((f & F_ATTR) !== 0) return false; // the annotated value follows
    }
    this.frameType = this.curType;
    this.frameLength = this.curLength;
    this.frameLastInteger = this.curLastInt;
    const hl = this.headLen;
    this.lastHeadLen = hl;
    for (let k = 0; k < hl; k++) this.lastHead[k] = this.headBuf[k]!;
    this.headLen = 0;
    this.headCapture = false;
    this.inFrame = false;
    return true;
  }
}

// Materialised RESP replies: `parseReply` builds a tree of one complete reply (validated and framed
// by the scanner in resp-scanner.ts first) and `encodeReply` writes a tree back. The rewriter uses
// them only for the few replies it changes; everything else is forwarded as scanned bytes.
import { RESP_TYPE } from './resp-format.js';
import type { RespLimits, RespProtocolError } from './resp-limits.js';
import { createRespScanner, FAILED, NEED_MORE } from './resp-scanner.js';

const CR = 13;
const T_SIMPLE = RESP_TYPE.simple;
const T_ERROR = RESP_TYPE.error;
const T_INT = RESP_TYPE.integer;
const T_BULK = RESP_TYPE.bulk;
const T_BLOBERR = RESP_TYPE.blobError;
const T_VERB = RESP_TYPE.verbatim;
const T_ARRAY = RESP_TYPE.array;
const T_SET = RESP_TYPE.set;
const T_PUSH = RESP_TYPE.push;
const T_MAP = RESP_TYPE.map;
const T_ATTR = RESP_TYPE.attribute;
const T_NULL = RESP_TYPE.null;
const T_BOOL = RESP_TYPE.boolean;
const T_DOUBLE = RESP_TYPE.double;
const T_BIGNUM = RESP_TYPE.bigNumber;
const T_END = 46; // '.'

interface Base {
  /** Attributes (`|`) sent before this value: flat key, value list. */
  readonly attributes?: RespValue[];
}
export type RespValue = Base &
  (
    | { readonly type: 'simple' | 'error' | 'integer' | 'double' | 'bignum'; readonly text: string }
    | { readonly type: 'bulk'; readonly bytes: Buffer | null; readonly streamed?: boolean }
    | { readonly type: 'blob-error' | 'verbatim'; readonly bytes: Buffer }
    | { readonly type: 'array'; readonly items: RespValue[] | null; readonly streamed?: boolean }
    | { readonly type: 'set' | 'push'; readonly items: RespValue[]; readonly streamed?: boolean }
    /** Flat key, value list. */
    | { readonly type: 'map'; readonly items: RespValue[]; readonly streamed?: boolean }
    | { readonly type: 'null' }
    | { readonly type: 'boolean'; readonly value: boolean }
  );

export type ParseResult =
  | { readonly ok: true; readonly value: RespValue; readonly consumed: number }
  | { readonly ok: false; readonly incomplete: true }
  | { readonly ok: false; readonly incomplete: false; readonly error: RespProtocolError };

/**
 * Parses the one reply that starts at `buf[start]`. Incomplete input is `{ incomplete: true }`;
 * malformed input is an error value. The scanner validates and frames; the tree is built after.
 */
export function parseReply(buf: Buffer, start = 0, limits: Partial<RespLimits> = {}): ParseResult {
  const sc = createRespScanner(limits);
  const end = sc.scan(buf, start);
  if (end === NEED_MORE) return { ok: false, incomplete: true };
  if (end === FAILED) return { ok: false, incomplete: false, error: sc.error! };
  const b = new Builder(buf, start);
  const value = b.value();
  return { ok: true, value, consumed: end - start };
}

class Builder {
  constructor(
    private readonly b: Buffer,
    private i: number,
  ) {}

  private lineEnd(): number {
    return this.b.indexOf(CR, this.i);
  }

  value(): RespValue {
    let attributes: RespValue[] | undefined;
    while (this.b[this.i] === T_ATTR) {
      const e = this.lineEnd();
      const n = Number(this.b.toString('latin1', this.i + 1, e));
      this.i = e + 2;
      const items: RespValue[] = [];
      for (let k = 0; k < n * 2; k++) items.push(this.value());
      attributes = (attributes ?? []).concat(items);
    }
    const v = this.bare();
    return attributes ? ({ ...v, attributes } as RespValue) : v;
  }

  private items(n: number): RespValue[] {
    const out: RespValue[] = [];
    for (let k = 0; k < n; k++) out.push(this.value());
    return out;
  }

  private streamedItems(): RespValue[] {
    const out: RespValue[] = [];
    while (this.b[this.i] !== T_END) out.push(this.value());
    this.i += 3;
    return out;
  }

  private bare(): RespValue {
    const b = this.b;
    const t = b[this.i]!;
    const e = this.lineEnd();
    const text = b.toString('latin1', this.i + 1, e);
    this.i = e + 2;
    switch (t) {
      case T_SIMPLE:
        return { type: 'simple', text };
      case T_ERROR:
        return { type: 'error', text };
      case T_INT:
        return { type: 'integer', text };
      case T_DOUBLE:
        return { type: 'double', text };
      case T_BIGNUM:
        return { type: 'bignum', text };
      case T_NULL:
        return { type: 'null' };
      case T_BOOL:
        return { type: 'boolean', value: text === 't' };
      case T_BULK:
      case T_BLOBERR:
      case T_VERB: {
        if (text === '-1') return { type: 'bulk', bytes: null };
        if (text === '?') {
          const parts: Buffer[] = [];
          for (;;) {
            const ce = this.lineEnd();
            const len = Number(b.toString('latin1', this.i + 1, ce));
            this.i = ce + 2;
            if (len === 0) break;
            parts.push(Buffer.from(b.subarray(this.i, this.i + len)));
            this.i += len + 2;
          }
          return { type: 'bulk', bytes: Buffer.concat(parts), streamed: true };
        }
        const len = Number(text);
        const bytes = Buffer.from(b.subarray(this.i, this.i + len));
        this.i += len + 2;
        if (t === T_BULK) return { type: 'bulk', bytes };
        return { type: t === T_BLOBERR ? 'blob-error' : 'verbatim', bytes };
      }
      case T_ARRAY:
      case T_SET:
      case T_PUSH:
      case T_MAP: {
        const type = t === T_ARRAY ? 'array' : t === T_SET ? 'set' : t === T_PUSH ? 'push' : 'map';
        if (text === '?') return { type, items: this.streamedItems(), streamed: true };
        if (text === '-1') return { type: 'array', items: null };
        const n = Number(text);
        return { type, items: this.items(type === 'map' ? n * 2 : n) };
      }
      default:
        // Unreachable: the scanner validated the reply before the builder runs.
        return { type: 'error', text: `unparsed type ${t}` };
    }
  }
}

const PREFIX: Record<RespValue['type'], string> = {
  simple: '+',
  error: '-',
  integer: ':',
  double: ',',
  bignum: '(',
  bulk: '$',
  'blob-error': '!',
  verbatim: '=',
  array: '*',
  set: '~',
  push: '>',
  map: '%',
  null: '_',
  boolean: '#',
};

/** Writes a tree as RESP. String lengths come from the bytes, so edited strings stay framed. */
export function encodeReply(v: RespValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(v, parts);
  return Buffer.concat(parts);
}

function encodeInto(v: RespValue, out: Buffer[]): void {
  if (v.attributes) {
    out.push(Buffer.from(`|${v.attributes.length / 2}\r\n`, 'latin1'));
    for (const a of v.attributes) encodeInto(a, out);
  }
  const p = PREFIX[v.type];
  switch (v.type) {
    case 'simple':
    case 'error':
    case 'integer':
    case 'double':
    case 'bignum':
      out.push(Buffer.from(`${p}${v.text}\r\n`, 'latin1'));
      return;
    case 'null':
      out.push(Buffer.from('_\r\n', 'latin1'));
      return;
    case 'boolean':
      out.push(Buffer.from(v.value ? '#t\r\n' : '#f\r\n', 'latin1'));
      return;
    case 'bulk':
    case 'blob-error':
    case 'verbatim': {
      if (v.bytes === null) {
        out.push(Buffer.from('$-1\r\n', 'latin1'));
        return;
      }
      if (v.type === 'bulk' && v.streamed) {
        if (v.bytes.length > 0) out.push(Buffer.from(`$?\r\n;${v.bytes.length}\r\n`, 'latin1'), v.bytes);
        else out.push(Buffer.from('$?\r\n', 'latin1'));
        out.push(Buffer.from(v.bytes.length > 0 ? '\r\n;0\r\n' : ';0\r\n', 'latin1'));
        return;
      }
      out.push(Buffer.from(`${p}${v.bytes.length}\r\n`, 'latin1'), v.bytes, Buffer.from('\r\n', 'latin1'));
      return;
    }
    case 'array':
    case 'set':
    case 'push':
    case 'map': {
      if (v.items === null) {
        out.push(Buffer.from('*-1\r\n', 'latin1'));
        return;
      }
      const streamed = 'streamed' in v && v.streamed === true;
      const n = v.type === 'map' ? v.items.length / 2 : v.items.length;
      out.push(Buffer.from(streamed ? `${p}?\r\n` : `${p}${n}\r\n`, 'latin1'));
      for (const it of v.items) encodeInto(it, out);
      if (streamed) out.push(Buffer.from('.\r\n', 'latin1'));
      return;
    }
  }
}

/** A string value's bytes as latin1 text (byte-preserving), or undefined for other types. */
export function respText(v: RespValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'bulk') return v.bytes === null ? undefined : v.bytes.toString('latin1', 0, v.bytes.length);
  if (v.type === 'verbatim') return v.bytes.toString('latin1', 0, v.bytes.length);
  if (v.type === 'simple') return v.text;
  return undefined;
}

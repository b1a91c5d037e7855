// The RESP2 + RESP3 reply format: the type bytes (`RESP_TYPE`) and the syntax of the number lines
// (integers, lengths, doubles) the scanner (resp-scanner.ts) checks as it frames replies.
//
// Wire format (redis/redis src/networking.c, redis-specifications protocol/RESP3.md):
//   + simple string   - simple error   : integer   _ null   # boolean (t|f)   , double   ( big number
//     one line each, CRLF-terminated, no CR or LF inside
//   $ bulk string   ! blob error   = verbatim string ("txt:" prefix): <len>CRLF<bytes>CRLF;
//     `$-1` is the RESP2 null; `$?` starts a streamed string of `;<len>` chunks ended by `;0`
//   * array   ~ set   > push   : <count> elements;  % map   | attribute : <count> pairs;
//     `*-1` is the RESP2 null array; `*? ~? %?` stream elements until the end marker `.`
//   An attribute (`|`) annotates the value that follows it and is framed together with it.

const T = (c: string) => c.charCodeAt(0);

/** The type byte of each kind of value. Readers copy the ones they test into module constants. */
export const RESP_TYPE = Object.freeze({
  simple: T('+'),
  error: T('-'),
  integer: T(':'),
  bulk: T('$'),
  blobError: T('!'),
  verbatim: T('='),
  array: T('*'),
  set: T('~'),
  push: T('>'),
  map: T('%'),
  attribute: T('|'),
  null: T('_'),
  boolean: T('#'),
  double: T(','),
  bigNumber: T('('),
});

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `[+-]?digits` between s and e; returns the value (may be imprecise past 2^53) or NaN. */
export function parseSignedInt(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (i < e && (b[i] === 45 || b[i] === 43)) {
    neg = b[i] === 45;
    i++;
  }
  if (i === e) return NaN;
  let v = 0;
  for (; i < e; i++) {
    const c = b[i]!;
    if (!isDigit(c)) return NaN;
    v = v * 10 + (c - 48);
  }
  return neg ? -v : v;
}

/** A length: digits only, at most 15 of them; -1 when allowNull and the text is `-1`; else -2. */
export function parseLength(b: Uint8Array, s: number, e: number, allowNull: boolean): number {
  if (allowNull && e - s === 2 && b[s] === 45 && b[s + 1] === 49) return -1;
  if (s === e || e - s > 15) return -2;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (!isDigit(c)) return -2;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** `[+-]?(inf|nan|digits[.digits][(e|E)[+-]digits])`, as Redis writes doubles. */
export function validDouble(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  if (i < e && (b[i] === 45 || b[i] === 43)) i++;
  const rest = e - i;
  if (rest === 3) {
    const w = String.fromCharCode(b[i]! | 32, b[i + 1]! | 32, b[i + 2]! | 32);
    if (w === 'inf' || w === 'nan') return true;
  }
  let digits = 0;
  while (i < e && isDigit(b[i]!)) {
    i++;
    digits++;
  }
  if (i < e && b[i] === 46) {
    i++;
    while (i < e && isDigit(b[i]!)) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  if (i < e && (b[i] === 101 || b[i] === 69)) {
    i++;
    if (i < e && (b[i] === 45 || b[i] === 43)) i++;
    let exp = 0;
    while (i < e && isDigit(b[i]!)) {
      i++;
      exp++;
    }
    if (exp === 0) return false;
  }
  return i === e;
}

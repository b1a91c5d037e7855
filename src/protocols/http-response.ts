// A bounded HTTP/1.1 response-head parser and chunked-body decoder for the upstream side of the
// egress proxy: bytes in, a value or an error out, no sockets. Strict where a lax reading could
// frame a body two ways (conflicting Content-Length, Content-Length with Transfer-Encoding,
// obs-fold, bad header names): such a reply is refused as a bad gateway rather than guessed at.
// Here with the other pure parsers (beside http-request-head.ts), not in the egress face: it is a
// wire format, and the egress face's upstream side only feeds it bytes.
import { hasControlChar, hasListToken, isToken, trimOws } from './http-syntax.js';

export type BodyKind =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' };

export interface ResponseHead {
  readonly status: number;
  readonly message: string;
  /** [name, value, name, value, …] as received */
  readonly rawHeaders: string[];
  readonly contentType: string | undefined;
  readonly body: BodyKind;
  /** May the connection carry another request after this response? */
  readonly keepAlive: boolean;
}

export type HeadResult =
  | { readonly head: ResponseHead; readonly consumed: number }
  | { readonly need: true }
  | { readonly error: string };

const MAX_HEADERS = 256;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;

const HEAD_END = Buffer.from('\r\n\r\n');
const DIGITS = /^\d{1,15}$/;
const BAD_LENGTH = -1;
const CONFLICTING_LENGTH = -2;

/**
 * One Content-Length value: a number, or a list of the same number (RFC 9110 section 8.6).
 * Nearly every response has one plain number: that case costs one test, no split.
 */
function contentLength(value: string): number {
  if (!value.includes(',')) return DIGITS.test(value) ? Number(value) : BAD_LENGTH;
  let n: number = BAD_LENGTH;
  for (const part of value.split(',')) {
    const p = trimOws(part);
    if (!DIGITS.test(p)) return BAD_LENGTH;
    if (n !== BAD_LENGTH && Number(p) !== n) return CONFLICTING_LENGTH;
    n = Number(p);
  }
  return n;
}

/** Parse one response head from the start of `buf` (the request was `method`). */
export function parseResponseHead(buf: Buffer, method: string, maxSize: number): HeadResult {
  const end = buf.indexOf(HEAD_END);
  if (end < 0)
    return buf.length > maxSize ? { error: `response head larger than ${maxSize} bytes` } : { need: true };
  if (end > maxSize) return { error: `response head larger than ${maxSize} bytes` };
  const text = buf.toString('latin1', 0, end);
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const m = STATUS_LINE.exec(text.slice(0, lineEnd));
  if (!m) return { error: 'malformed status line' };
  const minor = m[1]!;
  const status = Number(m[2]);
  const message = m[3] ?? '';
  if (status < 100 || hasControlChar(message)) return { error: 'malformed status line' };
  const rawHeaders: string[] = [];
  let length: number | undefined;
  let te: string | undefined;
  let connection = '';
  let contentType: string | undefined;
  // Header by header with indexOf, not split() and regular expressions: this runs per response.
  for (let at = lineEnd + 2; at < text.length;) {
    let next = text.indexOf('\r\n', at);
    if (next < 0) next = text.length;
    const colon = text.indexOf(':', at);
    if (colon <= at || colon > next) return { error: 'malformed header line' };
    const name = text.slice(at, colon);
    if (!isToken(name)) return { error: 'malformed header name' };
    const value = trimOws(text.slice(colon + 1, next));
    at = next + 2;
    if (hasControlChar(value)) return { error: 'control character in a header value' };
    if (rawHeaders.length >= MAX_HEADERS * 2) return { error: `more than ${MAX_HEADERS} response headers` };
    switch (name.length) {
      case 10:
        if (name.toLowerCase() === 'connection') connection += `,${value.toLowerCase()}`;
        break;
      case 12:
        if (name.toLowerCase() === 'content-type') contentType = value;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          const n = contentLength(value);
          if (n === BAD_LENGTH) return { error: 'bad Content-Length' };
          if (n === CONFLICTING_LENGTH || (length !== undefined && n !== length))
            return { error: 'conflicting Content-Length' };
          length = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
        break;
    }
    rawHeaders.push(name, value);
  }
  if (te !== undefined && length !== undefined) return { error: 'both Transfer-Encoding and Content-Length' };
  let keepAlive = minor === '1' && !hasListToken(connection, 'close');
  let body: BodyKind;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) body = { kind: 'none' };
  else if (te !== undefined) {
    const codings = te.toLowerCase().split(',');
    if (trimOws(codings[codings.length - 1]!) === 'chunked') body = { kind: 'chunked' };
    else {
      body = { kind: 'close' };
      keepAlive = false;
    }
  } else if (length !== undefined) body = { kind: 'length', length };
  else {
    body = { kind: 'close' };
    keepAlive = false;
  }
  return { head: { status, message, rawHeaders, contentType, body, keepAlive }, consumed: end + 4 };
}

export type ChunkResult =
  { readonly data: Buffer[]; readonly done: boolean; readonly rest: Buffer } | { readonly error: string };

const MAX_SIZE_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

/** Decodes a chunked body incrementally; `rest` is what follows the body once `done`. */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private line = '';
  private remaining = 0;
  private trailerBytes = 0;

  push(chunk: Buffer): ChunkResult {
    const data: Buffer[] = [];
    let i = 0;
    while (i < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, chunk.length - i);
        data.push(chunk.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'data-crlf';
        continue;
      }
      // Line-oriented states: collect up to LF.
      const lf = chunk.indexOf(10, i);
      const piece = chunk.toString('latin1', i, lf < 0 ? chunk.length : lf + 1);
      i = lf < 0 ? chunk.length : lf + 1;
      this.line += piece;
      if (this.state === 'trailer') {
        this.trailerBytes += piece.length;
        if (this.trailerBytes > MAX_TRAILERS) return { error: 'chunked trailers too large' };
      } else if (this.state === 'data-crlf') {
        if (!'\r\n'.startsWith(this.line)) return { error: 'missing CRLF after chunk data' };
      } else if (this.line.length > MAX_SIZE_LINE) return { error: 'chunk size line too long' };
      if (lf < 0) break;
      if (!this.line.endsWith('\r\n')) return { error: 'bare LF in chunked framing' };
      const line = this.line.slice(0, -2);
      this.line = '';
      if (this.state === 'data-crlf') {
        if (line !== '') return { error: 'missing CRLF after chunk data' };
        this.state = 'size';
      } else if (this.state === 'size') {
        const size = line.split(';', 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) return { error: 'bad chunk size' };
        this.remaining = parseInt(size, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.state = 'done';
      }
    }
    return { data, done: this.state === 'done', rest: chunk.subarray(i) };
  }
}

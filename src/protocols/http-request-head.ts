// A strict HTTP/1.1 request-head reader for the egress proxy's fast path: bytes in, a head or a
// verdict out, no sockets. It accepts only the plain, unambiguous case (HTTP/1.1, token method,
// printable target, token header names, no obs-fold, no body framing but "Content-Length: 0", no
// Upgrade or Expect) and answers "fallback" for everything else, so Node's full parser (llhttp)
// decides every unusual request and answers it with its own 400/431. Being a subset of what llhttp
// accepts, with the same reading, is the point: no request can be framed two ways.
//
// Hand-written because the proxy's hot path pays Node's HTTP server machinery per request (about
// half the proxy's CPU in profiles); no library parses a head without owning the socket.
import { hasControlChar, hasListToken, isToken, trimOws } from './http-syntax.js';

export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as sent (absolute-form for proxy requests, authority for CONNECT). */
  readonly target: string;
  /** [name, value, name, value, …] as received, values without surrounding spaces or tabs. */
  readonly rawHeaders: string[];
  /** False when the client sent Connection: close. */
  readonly keepAlive: boolean;
  /** The Proxy-Authorization value, if any (only one allowed here). */
  readonly proxyAuthorization: string | undefined;
}

export type RequestHeadResult =
  | { readonly head: RequestHead; readonly consumed: number }
  | { readonly need: true }
  | { readonly fallback: string };

// Visible ASCII only: a target with spaces, controls or 8-bit bytes goes to the full parser.
const TARGET = /^[\x21-\x7e]+$/;
// Common methods (all known to llhttp), in their exact case; any other is llhttp's to judge.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT']);
// Characters llhttp's URL parser refuses in an authority (absolute-form host, CONNECT target).
const AUTHORITY_REFUSED = /["#<>\\^`{|}/]/;

/** Origin-form, asterisk-form, absolute-form http://, or (CONNECT) authority-form, and nothing odd. */
function targetFormOk(method: string, target: string): boolean {
  if (method === 'CONNECT') return !AUTHORITY_REFUSED.test(target);
  if (target.charCodeAt(0) === 47 /* / */ || target === '*') return true;
  if (target.length < 8 || target.slice(0, 7).toLowerCase() !== 'http://') return false;
  let end = target.length;
  for (let i = 7; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 47 || c === 63) {
      end = i;
      break;
    }
  }
  return end > 7 && !AUTHORITY_REFUSED.test(target.slice(7, end));
}
const MAX_HEADERS = 100;

const HEAD_END = Buffer.from('\r\n\r\n');
const BARE_LF_END = Buffer.from('\n\n');

/** Reads one request head from the start of `buf`; at most `maxSize` bytes of head. */
export function parseRequestHead(buf: Buffer, maxSize: number): RequestHeadResult {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    if (buf.length > maxSize) return { fallback: 'head too large' };
    // Bare LF line ends: llhttp's to judge, not a head still arriving.
    return buf.indexOf(BARE_LF_END) >= 0 ? { fallback: 'bare LF' } : { need: true };
  }
  if (end + 4 > maxSize) return { fallback: 'head too large' };
  const text = buf.toString('latin1', 0, end);
  const lineEnd = text.indexOf('\r\n');
  const requestLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.slice(sp2 + 1) !== 'HTTP/1.1') return { fallback: 'request line' };
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  if (!METHODS.has(method) || !TARGET.test(target) || !targetFormOk(method, target))
    return { fallback: 'request line' };
  const rawHeaders: string[] = [];
  let keepAlive = true;
  let proxyAuthorization: string | undefined;
  let lengthSeen = false;
  let at = lineEnd < 0 ? text.length : lineEnd + 2;
  while (at < text.length) {
    let next = text.indexOf('\r\n', at);
    if (next < 0) next = text.length;
    const line = text.slice(at, next);
    at = next + 2;
    if (rawHeaders.length >= MAX_HEADERS * 2) return { fallback: 'too many headers' };
    const colon = line.indexOf(':');
    if (colon <= 0) return { fallback: 'header line' };
    const name = line.slice(0, colon);
    if (!isToken(name)) return { fallback: 'header name' };
    const value = trimOws(line.slice(colon + 1));
    // A CR or LF inside a line means a bare CR/LF line break: llhttp's business, not ours.
    if (hasControlChar(value)) return { fallback: 'header value' };
    switch (name.length) {
      case 6:
        if (name.toLowerCase() === 'expect') return { fallback: 'expect' };
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return { fallback: 'upgrade' };
        break;
      case 10:
        if (name.toLowerCase() === 'connection' && hasListToken(value, 'close')) keepAlive = false;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (lengthSeen || value !== '0') return { fallback: 'request body' };
          lengthSeen = true;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return { fallback: 'request body' };
        break;
      case 19:
        if (name.toLowerCase() === 'proxy-authorization') {
          if (proxyAuthorization !== undefined) return { fallback: 'two Proxy-Authorization headers' };
          proxyAuthorization = value;
        }
        break;
    }
    rawHeaders.push(name, value);
  }
  return { head: { method, target, rawHeaders, keepAlive, proxyAuthorization }, consumed: end + 4 };
}

// Reading a proxy request's target and rewriting its headers for the next hop. No sockets here.
import {
  normalizeHost,
  splitAuthority,
  type InvalidHost,
  type NormalizedHost,
} from '../../policy/egress-host.js';

export interface ProxyTarget {
  /** host[:port] as the client wrote it */
  readonly authority: string;
  readonly host: NormalizedHost | InvalidHost;
  readonly port: number;
  /** origin-form path for the next hop ("/" when the URL had none) */
  readonly path: string;
}

/** Absolute-form "http://host[:port]/path" → target, or an error text. The path is kept byte for byte. */
type Normalize = (host: string) => NormalizedHost | InvalidHost;

export function parseAbsoluteUrl(url: string, normalize: Normalize = normalizeHost): ProxyTarget | string {
  const m = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!m) {
    if (/^https:\/\//i.test(url))
      return 'https:// URLs go through CONNECT (https_proxy), not as plain requests';
    if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return `unsupported URL scheme in "${url.slice(0, 64)}"`;
    return `"${url.slice(0, 64)}" is not an absolute http:// URL`;
  }
  const authority = m[1]!;
  if (authority.includes('@')) return 'credentials in the URL are not forwarded; send them in headers';
  const hp = splitAuthority(authority, 80);
  if (!hp) return `bad host or port in "${authority.slice(0, 64)}"`;
  let path = m[2]!;
  if (path === '') path = '/';
  else if (path.startsWith('?')) path = `/${path}`;
  return { authority, host: normalize(hp.host), port: hp.port, path };
}

/** CONNECT "host:port" → target (port required). */
export function parseConnectTarget(url: string, normalize: Normalize = normalizeHost): ProxyTarget | string {
  const hp = splitAuthority(url, undefined);
  if (!hp) return `CONNECT needs host:port, got "${url.slice(0, 64)}"`;
  return { authority: url, host: normalize(hp.host), port: hp.port, path: '' };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

const HOP_BY_HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));
const NO_TOKENS: ReadonlySet<string> = new Set();

/** Header names the Connection (or Proxy-Connection) header lists, beyond close/keep-alive/upgrade. */
function connectionTokens(raw: readonly string[]): ReadonlySet<string> {
  let out: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Most heads have no such header: compare lengths before lower-casing.
    if (name.length !== 10 && name.length !== 16) continue;
    const k = name.toLowerCase();
    if (k === 'connection' || k === 'proxy-connection')
      for (const t of raw[i + 1]!.split(',')) (out ??= new Set()).add(t.trim().toLowerCase());
  }
  if (!out) return NO_TOKENS;
  out.delete('close');
  out.delete('keep-alive');
  out.delete('upgrade');
  return out;
}

/**
 * Headers for the next hop as a flat [name, value, …] list: hop-by-hop headers (and those the
 * Connection header names) dropped, Host set from the URL, chunked framing kept so the body is
 * re-framed the same way, Upgrade kept for upgrade requests, a Via added.
 */
export function requestHeadersForUpstream(
  raw: readonly string[],
  authority: string,
  upgrade: boolean,
): string[] {
  const named = connectionTokens(raw);
  const out: string[] = ['Host', authority];
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    if (lower === 'transfer-encoding' && value.toLowerCase().includes('chunked')) chunked = true;
    if (upgrade && lower === 'upgrade') {
      out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(name, value);
  }
  if (chunked) out.push('Transfer-Encoding', 'chunked');
  if (upgrade) out.push('Connection', 'Upgrade');
  out.push('Via', '1.1 gatehouse');
  return out;
}

/** Response headers for the client: hop-by-hop dropped (Node frames the body itself), Via added. */
export function responseHeadersForClient(raw: readonly string[]): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    // Per response, per header: skip lower-casing names that cannot be hop-by-hop.
    if (named.size === 0 && !HOP_BY_HOP_LENGTHS.has(raw[i]!.length)) {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    const lower = raw[i]!.toLowerCase();
    if (lower === 'host' || lower === 'expect') {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('Via', '1.1 gatehouse');
  return out;
}

/** The request head for a raw upstream write (Upgrade requests). */
export function requestHead(method: string, path: string, headers: readonly string[]): string {
  let s = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${s}\r\n`;
}

// Host normalisation for egress decisions: whatever spelling a client uses for a host, the allowlist
// and the destination guard see one canonical value. Pure: no DNS, no sockets.
//
// Browsers and URL libraries read "2130706433", "0x7f.1", "0177.0.0.1", "127.1" and "127.0.0.1." as
// 127.0.0.1, and "bücher.de" as "xn--bcher-kva.de" (WHATWG host parsing, which Node's
// url.domainToASCII implements). Matching must use that reading, or an entry could be dodged by
// spelling. Names lose trailing dots (as Squid strips them) and are lower-cased. A percent-encoded
// host is refused rather than decoded.
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { parseIp, type IpAddress } from '../net/cidr.js';

export type NormalizedHost =
  | { readonly kind: 'name'; readonly text: string }
  | {
      readonly kind: 'ip';
      readonly text: string;
      readonly ip: IpAddress;
      readonly raw: ipaddr.IPv4 | ipaddr.IPv6;
    };

export interface InvalidHost {
  readonly kind: 'invalid';
  readonly why: string;
}

const MAX_HOST = 255;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function ipHost(raw: ipaddr.IPv4 | ipaddr.IPv6): NormalizedHost {
  // `ip` folds IPv4-mapped IPv6 into IPv4 for CIDR matching; `raw` keeps the mapped form so the
  // destination guard can refuse it as such.
  const ip = parseIp(raw.toString()) ?? raw;
  return { kind: 'ip', text: raw.toString(), ip, raw };
}

/** Canonical form of a host as a request names it (no port, IPv6 may be bracketed). */
export function normalizeHost(input: string): NormalizedHost | InvalidHost {
  if (typeof input !== 'string' || input.length === 0) return { kind: 'invalid', why: 'empty host' };
  if (input.length > MAX_HOST + 2) return { kind: 'invalid', why: 'host too long' };
  if (input.startsWith('[')) {
    if (!input.endsWith(']')) return { kind: 'invalid', why: 'unclosed IPv6 bracket' };
    const inner = input.slice(1, -1);
    // Zone ids (fe80::1%eth0) name a local interface: never a destination for a proxy.
    if (inner.includes('%') || !ipaddr.IPv6.isValid(inner))
      return { kind: 'invalid', why: 'bad IPv6 literal' };
    return ipHost(ipaddr.IPv6.parse(inner));
  }
  if (input.includes(':')) {
    // An unbracketed IPv6 literal, as some CONNECT targets are written after the port is split off.
    if (!input.includes('%') && ipaddr.IPv6.isValid(input)) return ipHost(ipaddr.IPv6.parse(input));
    return { kind: 'invalid', why: 'bad host' };
  }
  // Control characters, spaces and the like never make a host; domainToASCII refuses them too.
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\x00-\x20\x7f]/.test(input)) return { kind: 'invalid', why: 'bad characters in host' };
  // WHATWG host parsing percent-decodes ("allowed%2etest" is read as allowed.test), but a host is
  // never percent-encoded on the wire: Squid refuses such a request as invalid, and so do we, so
  // that no spelling reaches the allowlist that the origin's own parser might read otherwise.
  if (input.includes('%')) return { kind: 'invalid', why: 'percent-encoded host' };
  let ascii = domainToASCII(input);
  if (ascii === '') return { kind: 'invalid', why: 'not a valid host name' };
  while (ascii.endsWith('.')) ascii = ascii.slice(0, -1);
  if (ascii === '') return { kind: 'invalid', why: 'not a valid host name' };
  if (ipaddr.IPv4.isValidFourPartDecimal(ascii)) return ipHost(ipaddr.IPv4.parse(ascii));
  if (ascii.length > 253) return { kind: 'invalid', why: 'host too long' };
  for (const label of ascii.split('.')) {
    if (!LABEL.test(label)) return { kind: 'invalid', why: `bad label "${label}" in host` };
  }
  return { kind: 'name', text: ascii };
}

/**
 * Split a CONNECT target or URL authority ("host:port", "[v6]:port", or "host" with a default port).
 * Returns undefined when the port is missing where required, or not 1-65535.
 */
export function splitAuthority(
  authority: string,
  defaultPort: number | undefined,
): { host: string; port: number } | undefined {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return undefined;
    host = authority.slice(0, end + 1);
    const rest = authority.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      if (authority.indexOf(':') !== colon) return undefined; // unbracketed IPv6
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else host = authority;
  }
  let port: number;
  if (portText === undefined || portText === '') {
    if (defaultPort === undefined) return undefined;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
  }
  if (port < 1 || port > 65535 || host === '') return undefined;
  return { host, port };
}

// SOCKS5 (RFC 1928), the parts a local forwarder serves: the method greeting and the CONNECT
// request, no authentication. Pure and bounded: bytes in, { consumed, value } | more | error out;
// the socket glue lives in src/access-client/local.ts. Frames are at most 257 (greeting) and 262
// (request) bytes by construction: every length is one byte.

export const SOCKS_VERSION = 5;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type ParseResult<T> =
  | { readonly kind: 'ok'; readonly consumed: number; readonly value: T }
  | { readonly kind: 'more' }
  | { readonly kind: 'error'; readonly message: string; readonly reply?: number };

export interface Greeting {
  readonly methods: readonly number[];
}

export interface ConnectRequest {
  readonly command: number;
  readonly addressType: 'ipv4' | 'domain' | 'ipv6';
  readonly host: string;
  readonly port: number;
}

const MORE = { kind: 'more' } as const;

export function parseGreeting(buf: Uint8Array): ParseResult<Greeting> {
  if (buf.length < 2) return MORE;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', message: `not SOCKS5 (version byte ${buf[0]})` };
  const n = buf[1]!;
  if (n === 0) return { kind: 'error', message: 'greeting offers no methods' };
  if (buf.length < 2 + n) return MORE;
  return { kind: 'ok', consumed: 2 + n, value: { methods: [...buf.subarray(2, 2 + n)] } };
}

function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 writes addresses.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

const DOMAIN =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function parseRequest(buf: Uint8Array): ParseResult<ConnectRequest> {
  if (buf.length < 5) return MORE;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', message: `not SOCKS5 (version byte ${buf[0]})` };
  if (buf[2] !== 0)
    return { kind: 'error', message: 'reserved byte is not zero', reply: Reply.generalFailure };
  const command = buf[1]!;
  const atyp = buf[3]!;
  let host: string;
  let addressType: ConnectRequest['addressType'];
  let at: number;
  if (atyp === 0x01) {
    if (buf.length < 10) return MORE;
    host = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
    addressType = 'ipv4';
    at = 8;
  } else if (atyp === 0x03) {
    const len = buf[4]!;
    if (len === 0) return { kind: 'error', message: 'empty domain name', reply: Reply.hostUnreachable };
    if (buf.length < 5 + len + 2) return MORE;
    host = Buffer.from(buf.subarray(5, 5 + len)).toString('latin1');
    if (!DOMAIN.test(host))
      return {
        kind: 'error',
        message: 'domain name has characters a host name cannot',
        reply: Reply.hostUnreachable,
      };
    addressType = 'domain';
    at = 5 + len;
  } else if (atyp === 0x04) {
    if (buf.length < 22) return MORE;
    host = ipv6Text(buf.subarray(4, 20));
    addressType = 'ipv6';
    at = 20;
  } else {
    return { kind: 'error', message: `address type ${atyp} unknown`, reply: Reply.addressTypeNotSupported };
  }
  const port = (buf[at]! << 8) | buf[at + 1]!;
  if (port === 0) return { kind: 'error', message: 'port 0', reply: Reply.hostUnreachable };
  return { kind: 'ok', consumed: at + 2, value: { command, addressType, host, port } };
}

export function methodReply(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

/** A reply with bound address 0.0.0.0:0 (the client never needs ours). */
export function reply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0, 0x01, 0, 0, 0, 0, 0, 0]);
}

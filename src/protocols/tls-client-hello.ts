// The server name a TLS ClientHello asks for, read without decrypting anything: the first
// handshake message inside the first record(s) of a connection (RFC 8446 4.1.2, RFC 6066 3). Pure
// and bounded: bytes in, `incomplete` (need more), `hello` (the SNI, or none; whether the hello is
// an ECH outer one), `not-tls` or `invalid` out. Used by the egress proxy to refuse a tunnel whose
// TLS asks for another name than its CONNECT did (domain fronting), before a byte reaches the
// origin. With Encrypted Client Hello the outer name is what is compared, as sent.
//
// Written by hand: the format is small, the reader must stop at a bound, and no npm parser of
// ClientHellos is both maintained and bounded.

/** A ClientHello spread over records may not exceed this (real ones are under 2 KB; with PQ key shares under 8 KB). */
export const CLIENT_HELLO_MAX = 16 * 1024;

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;

export type ClientHelloResult =
  | { readonly state: 'incomplete' }
  | {
      readonly state: 'hello';
      /** The host_name of server_name, lower-cased; undefined when the hello names none. */
      readonly serverName: string | undefined;
      /** An encrypted_client_hello extension is present: serverName is the outer (public) name. */
      readonly ech: boolean;
    }
  | { readonly state: 'not-tls' }
  | { readonly state: 'invalid'; readonly reason: string };

const INCOMPLETE: ClientHelloResult = { state: 'incomplete' };

function invalid(reason: string): ClientHelloResult {
  return { state: 'invalid', reason };
}

/** The handshake bytes carried by the records at the start of `b`; `complete` once `need` are in. */
function handshakeBytes(b: Uint8Array, need: number): { bytes: Uint8Array; ended: boolean } | string {
  const parts: Uint8Array[] = [];
  let have = 0;
  let at = 0;
  while (at + 5 <= b.length && have < need) {
    if (b[at] !== HANDSHAKE) return 'a record that is not a handshake came before the ClientHello ended';
    const len = (b[at + 3]! << 8) | b[at + 4]!;
    if (len === 0 || len > 16384 + 256) return `a record of ${len} bytes`;
    const end = Math.min(at + 5 + len, b.length);
    parts.push(b.subarray(at + 5, end));
    have += end - (at + 5);
    if (end < at + 5 + len) break;
    at = end;
  }
  const bytes = parts.length === 1 ? parts[0]! : Uint8Array.from(parts.flatMap((p) => [...p]));
  return { bytes, ended: have >= need };
}

function readServerName(ext: Uint8Array): string | undefined | null {
  // server_name_list: u16 length, then entries of (u8 type, u16 length, name).
  if (ext.length < 2) return null;
  const listLen = (ext[0]! << 8) | ext[1]!;
  if (listLen + 2 > ext.length) return null;
  let at = 2;
  while (at + 3 <= 2 + listLen) {
    const type = ext[at]!;
    const len = (ext[at + 1]! << 8) | ext[at + 2]!;
    if (at + 3 + len > 2 + listLen) return null;
    if (type === 0) {
      const name = ext.subarray(at + 3, at + 3 + len);
      // A host name is ASCII (IDNs travel as A-labels); anything else is not a name to compare.
      for (const c of name) if (c < 0x21 || c > 0x7e) return null;
      return Buffer.from(name).toString('latin1').toLowerCase().replace(/\.$/, '');
    }
    at += 3 + len;
  }
  return undefined;
}

export function readClientHello(b: Uint8Array): ClientHelloResult {
  if (b.length === 0) return INCOMPLETE;
  if (b[0] !== HANDSHAKE) return { state: 'not-tls' };
  if (b.length < 5) return INCOMPLETE;
  if (b[1] !== 3 || b[2]! > 4) return { state: 'not-tls' };
  // The handshake header (type, u24 length) may itself straddle records: read it first.
  const head = handshakeBytes(b, 4);
  if (typeof head === 'string') return invalid(head);
  if (!head.ended) return INCOMPLETE;
  if (head.bytes[0] !== CLIENT_HELLO) return invalid('the first handshake message is not a ClientHello');
  const bodyLen = (head.bytes[1]! << 16) | (head.bytes[2]! << 8) | head.bytes[3]!;
  if (bodyLen + 4 > CLIENT_HELLO_MAX) return invalid(`a ClientHello of ${bodyLen} bytes is over the limit`);
  const all = handshakeBytes(b, 4 + bodyLen);
  if (typeof all === 'string') return invalid(all);
  if (!all.ended) return INCOMPLETE;
  const h = all.bytes.subarray(4, 4 + bodyLen);
  // legacy_version (2), random (32), session id (u8 len), cipher suites (u16 len),
  // compression methods (u8 len), extensions (u16 len).
  let at = 34;
  if (h.length < at + 1) return invalid('cut short before the session id');
  at += 1 + h[at]!;
  if (h.length < at + 2) return invalid('cut short before the cipher suites');
  at += 2 + ((h[at]! << 8) | h[at + 1]!);
  if (h.length < at + 1) return invalid('cut short before the compression methods');
  at += 1 + h[at]!;
  if (at === h.length) return { state: 'hello', serverName: undefined, ech: false };
  if (h.length < at + 2) return invalid('cut short before the extensions');
  const extEnd = at + 2 + ((h[at]! << 8) | h[at + 1]!);
  if (extEnd > h.length) return invalid('the extensions run past the ClientHello');
  at += 2;
  let serverName: string | undefined;
  let ech = false;
  let seenSni = false;
  while (at < extEnd) {
    if (at + 4 > extEnd) return invalid('an extension header is cut short');
    const type = (h[at]! << 8) | h[at + 1]!;
    const len = (h[at + 2]! << 8) | h[at + 3]!;
    if (at + 4 + len > extEnd) return invalid('an extension runs past the extensions');
    if (type === EXT_SERVER_NAME) {
      if (seenSni) return invalid('two server_name extensions');
      seenSni = true;
      const name = readServerName(h.subarray(at + 4, at + 4 + len));
      if (name === null) return invalid('a malformed server_name extension');
      serverName = name;
    } else if (type === EXT_ECH) ech = true;
    at += 4 + len;
  }
  return { state: 'hello', serverName, ech };
}

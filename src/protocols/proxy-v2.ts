// The PROXY protocol version 2 header (haproxy doc/proxy-protocol.txt, section 2.2): the binary
// block a load balancer puts before a connection's first byte to say whom it relays. Pure and
// bounded: bytes in, `incomplete` (how many more bytes at least), `done` (the header and how many
// bytes it took) or `invalid` (why) out. Written by hand: no well-kept streaming parser with these
// bounds exists on npm, and the format is small.
//
// What the spec requires of a receiver, and how it is met here:
//   - only version 2 is accepted (the high nibble of byte 13 is 2), commands LOCAL and PROXY only;
//   - the header length is always honoured (16 + len bytes are skipped whatever the family);
//   - LOCAL: the addresses are ignored, the connection's own endpoints stand;
//   - UNSPEC (and AF_UNIX, which a TCP listener cannot use) under PROXY: addresses ignored, as LOCAL;
//   - a family or protocol byte the spec leaves unassigned is invalid;
//   - an address block shorter than its family needs is invalid;
//   - TLVs must tile the rest of the header exactly; a CRC32C TLV is verified.
// Whether a header may be read at all (the peer is a trusted proxy) is the caller's decision.

/** The 12-byte signature every v2 header starts with. */
export const PROXY_V2_SIGNATURE = Uint8Array.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** Fixed part: signature, version/command, family/protocol, length. */
export const PROXY_V2_FIXED = 16;
/** Headers longer than this are refused (the spec allows 16 + 65535; real balancers send < 300). */
export const PROXY_V2_DEFAULT_MAX = 4096;

export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
  /** AWS: the VPC endpoint id of a PrivateLink connection (subtype 0x01 in the first byte). */
  AWS: 0xea,
} as const;

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyTlv {
  readonly type: number;
  readonly value: Uint8Array;
}

export type ProxyV2Header =
  /** A health check or other connection of the balancer's own: use the socket's addresses. */
  | { readonly command: 'local'; readonly tlvs: readonly ProxyTlv[] }
  /** Relayed for a client whose family is not carried (UNSPEC, AF_UNIX): use the socket's addresses. */
  | { readonly command: 'proxy'; readonly family: 'unspec' | 'unix'; readonly tlvs: readonly ProxyTlv[] }
  | {
      readonly command: 'proxy';
      readonly family: 'ipv4' | 'ipv6';
      readonly transport: 'stream' | 'dgram';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
      readonly tlvs: readonly ProxyTlv[];
    };

export type ProxyV2Result =
  | { readonly state: 'incomplete'; readonly need: number }
  | { readonly state: 'done'; readonly header: ProxyV2Header; readonly consumed: number }
  | { readonly state: 'invalid'; readonly reason: string };

function invalid(reason: string): ProxyV2Result {
  return { state: 'invalid', reason };
}

function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952: lower-case hex, leading zeros dropped, the longest run of two or more zero groups as ::. */
export function formatIpv6(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  // An IPv4-mapped address reads best with its IPv4 part dotted.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return `::ffff:${formatIpv4(b, at + 12)}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

let crcTable: Uint32Array | undefined;

/** CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960 appendix B computes it. */
export function crc32c(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Whether `bytes` could still become a v2 header (every byte seen so far matches the signature). */
export function mayBeProxyV2(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== PROXY_V2_SIGNATURE[i]) return false;
  return true;
}

function parseTlvs(b: Uint8Array, from: number, end: number): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = [];
  let at = from;
  while (at < end) {
    if (end - at < 3) return 'a TLV is cut short';
    const type = b[at]!;
    const len = (b[at + 1]! << 8) | b[at + 2]!;
    if (at + 3 + len > end) return `TLV 0x${type.toString(16)} runs past the header`;
    tlvs.push({ type, value: b.subarray(at + 3, at + 3 + len) });
    at += 3 + len;
  }
  return tlvs;
}

/** The CRC32C of the header with the checksum's own four bytes as zeros. */
function checksumMatches(b: Uint8Array, total: number, tlv: ProxyTlv): boolean {
  if (tlv.value.length !== 4) return false;
  const copy = Uint8Array.from(b.subarray(0, total));
  const offset = tlv.value.byteOffset - b.byteOffset;
  const sent = ((tlv.value[0]! << 24) | (tlv.value[1]! << 16) | (tlv.value[2]! << 8) | tlv.value[3]!) >>> 0;
  copy.fill(0, offset, offset + 4);
  return crc32c(copy) === sent;
}

/**
 * Parse the v2 header at the start of `b`. `maxLength` bounds the whole header (16 + len): a longer
 * one is invalid before any of it is awaited.
 */
export function parseProxyV2(b: Uint8Array, maxLength = PROXY_V2_DEFAULT_MAX): ProxyV2Result {
  if (!mayBeProxyV2(b)) return invalid('no PROXY v2 signature');
  if (b.length < PROXY_V2_FIXED) return { state: 'incomplete', need: PROXY_V2_FIXED - b.length };
  const version = b[12]! >> 4;
  const command = b[12]! & 0x0f;
  if (version !== 2) return invalid(`version ${version} (only 2 is accepted)`);
  if (command > 1) return invalid(`command 0x${command.toString(16)} is not LOCAL or PROXY`);
  const family = b[13]! >> 4;
  const transport = b[13]! & 0x0f;
  if (family > 3) return invalid(`address family 0x${family.toString(16)} is unassigned`);
  if (transport > 2) return invalid(`transport protocol 0x${transport.toString(16)} is unassigned`);
  const len = (b[14]! << 8) | b[15]!;
  const total = PROXY_V2_FIXED + len;
  if (total > maxLength) return invalid(`header of ${total} bytes is over the limit of ${maxLength}`);
  if (b.length < total) return { state: 'incomplete', need: total - b.length };

  // LOCAL: "discard the protocol block including the family"; UNSPEC: "ignore address information".
  if (command === 0) return { state: 'done', header: { command: 'local', tlvs: [] }, consumed: total };
  if (family === 0 || transport === 0)
    return { state: 'done', header: { command: 'proxy', family: 'unspec', tlvs: [] }, consumed: total };
  // The address block's size by family; what follows it, up to the length, is TLVs.
  const addressBytes = family === 1 ? 12 : family === 2 ? 36 : 216;
  if (len < addressBytes) return invalid(`an address block of ${len} bytes is too short for its family`);
  const tlvs = parseTlvs(b, PROXY_V2_FIXED + addressBytes, total);
  if (typeof tlvs === 'string') return invalid(tlvs);
  const crc = tlvs.find((t) => t.type === PP2_TYPE.CRC32C);
  if (crc && !checksumMatches(b, total, crc)) return invalid('CRC32C checksum does not match');
  if (family === 3)
    return { state: 'done', header: { command: 'proxy', family: 'unix', tlvs }, consumed: total };
  const at = PROXY_V2_FIXED;
  const v4 = family === 1;
  const size = v4 ? 4 : 16;
  const fmt = v4 ? formatIpv4 : formatIpv6;
  const ports = at + 2 * size;
  return {
    state: 'done',
    header: {
      command: 'proxy',
      family: v4 ? 'ipv4' : 'ipv6',
      transport: transport === 1 ? 'stream' : 'dgram',
      source: { address: fmt(b, at), port: (b[ports]! << 8) | b[ports + 1]! },
      destination: { address: fmt(b, at + size), port: (b[ports + 2]! << 8) | b[ports + 3]! },
      tlvs,
    },
    consumed: total,
  };
}

/** The value of the first TLV of `type` as UTF-8 text (AUTHORITY, UNIQUE_ID), if any. */
export function tlvText(header: ProxyV2Header, type: number): string | undefined {
  const t = header.tlvs.find((x) => x.type === type);
  return t ? Buffer.from(t.value).toString('utf8') : undefined;
}

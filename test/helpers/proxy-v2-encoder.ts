// A PROXY v2 header encoder for tests (the daemon only ever reads headers): what HAProxy's
// `send-proxy-v2`, an AWS NLB or a forger would put on the wire.
import net from 'node:net';
import { crc32c, PP2_TYPE, PROXY_V2_SIGNATURE } from '../../src/protocols/proxy-v2.js';

export interface EncodeOptions {
  readonly command?: 'local' | 'proxy';
  readonly source?: { address: string; port: number };
  readonly destination?: { address: string; port: number };
  readonly tlvs?: { type: number; value: Uint8Array }[];
  /** Add a CRC32C TLV; `bad` writes a wrong one. */
  readonly crc?: 'good' | 'bad';
  /** Raw family/protocol byte, to stage unassigned values. */
  readonly familyByte?: number;
  /** Raw version/command byte. */
  readonly versionByte?: number;
}

function ipBytes(address: string): Buffer {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const out = Buffer.alloc(16);
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), 2 * i));
  return out;
}

export function encodeProxyV2(o: EncodeOptions = {}): Buffer {
  const command = o.command ?? 'proxy';
  const src = o.source ?? { address: '198.51.100.7', port: 40000 };
  const dst = o.destination ?? { address: '10.0.0.5', port: 6379 };
  let addr = Buffer.alloc(0);
  let fam = 0x00;
  if (command === 'proxy') {
    const v4 = net.isIPv4(src.address);
    fam = v4 ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(src.port, 0);
    ports.writeUInt16BE(dst.port, 2);
    addr = Buffer.concat([ipBytes(src.address), ipBytes(dst.address), ports]);
  }
  const tlvParts: Buffer[] = [];
  for (const t of o.tlvs ?? []) {
    const head = Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]);
    tlvParts.push(head, Buffer.from(t.value));
  }
  if (o.crc) tlvParts.push(Buffer.from([PP2_TYPE.CRC32C, 0, 4, 0, 0, 0, 0]));
  const body = Buffer.concat([addr, ...tlvParts]);
  const head = Buffer.alloc(16);
  Buffer.from(PROXY_V2_SIGNATURE).copy(head, 0);
  head[12] = o.versionByte ?? (command === 'local' ? 0x20 : 0x21);
  head[13] = o.familyByte ?? fam;
  head.writeUInt16BE(body.length, 14);
  const out = Buffer.concat([head, body]);
  if (o.crc) {
    const sum = crc32c(out) ^ (o.crc === 'bad' ? 1 : 0);
    out.writeUInt32BE(sum >>> 0, out.length - 4);
  }
  return out;
}

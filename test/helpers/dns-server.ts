// A tiny authoritative DNS server on loopback UDP for resolver tests, answers encoded by hand
// (RFC 1035 4.1): each name gets a behaviour (an A record with a TTL, NXDOMAIN, an answer after a
// delay, or no answer at all), every other question is answered NOERROR with no records (NODATA).
// It counts the questions it gets per "NAME TYPE", which is how a test sees a cache hit.
import dgram from 'node:dgram';
import { once } from 'node:events';

export type Behaviour =
  | { readonly a: string; readonly ttl: number; readonly delayMs?: number }
  | { readonly nxdomain: true }
  | { readonly silent: true };

export interface DnsServer {
  readonly port: number;
  /** Questions received, by "name A" / "name AAAA". */
  readonly asked: Map<string, number>;
  count(name: string, type?: 'A' | 'AAAA'): number;
  stop(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: 'A', 28: 'AAAA' };

function readName(b: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  while (b[at]! !== 0) {
    const len = b[at]!;
    labels.push(b.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: at + 1 };
}

function reply(query: Buffer, qEnd: number, rcode: number, answer?: { ip: string; ttl: number }): Buffer {
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2); // id
  head[2] = 0x84 | (query[2]! & 0x01); // QR, AA, RD copied
  head[3] = 0x80 | rcode; // RA
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(answer ? 1 : 0, 6);
  const question = query.subarray(12, qEnd);
  if (!answer) return Buffer.concat([head, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(answer.ttl, 6);
  rr.writeUInt16BE(4, 10);
  answer.ip.split('.').forEach((o, i) => (rr[12 + i] = Number(o)));
  return Buffer.concat([head, question, rr]);
}

export async function startDnsServer(names: Record<string, Behaviour>): Promise<DnsServer> {
  const sock = dgram.createSocket('udp4');
  const asked = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    const { name, end } = readName(msg, 12);
    const type = TYPES[msg.readUInt16BE(end)] ?? String(msg.readUInt16BE(end));
    const qEnd = end + 4;
    const key = `${name} ${type}`;
    asked.set(key, (asked.get(key) ?? 0) + 1);
    const send = (b: Buffer) => sock.send(b, rinfo.port, rinfo.address);
    const how = names[name];
    if (!how) return send(reply(msg, qEnd, 3));
    if ('silent' in how) return;
    if ('nxdomain' in how) return send(reply(msg, qEnd, 3));
    const answer = type === 'A' ? reply(msg, qEnd, 0, { ip: how.a, ttl: how.ttl }) : reply(msg, qEnd, 0);
    if (!how.delayMs) return send(answer);
    const t = setTimeout(() => {
      timers.delete(t);
      send(answer);
    }, how.delayMs);
    timers.add(t);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return {
    port: sock.address().port,
    asked,
    count: (name, type = 'A') => asked.get(`${name} ${type}`) ?? 0,
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      sock.close();
      await once(sock, 'close');
    },
  };
}

// ElastiCache-style auto discovery through the gateway: a client's `config get cluster` is
// answered with the gateway's public node addresses, so discovery clients connect through it.
//
// Memcached has no such command, and replies must stay in request order, so the request is not
// answered out of band: it is replaced by `version` (which every memcached answers, in order),
// and that VERSION reply is replaced by the cluster config on the way back. Both directions are
// scanned with just enough of the text protocol to find command and reply boundaries (data
// blocks of storage commands and VALUE replies are skipped by length). Pure and bounded: a line
// longer than MAX_LINE or the binary protocol switches the scanner to passthrough.

const MAX_LINE = 8192;
const CRLF = Buffer.from('\r\n');

/** The reply to `config get cluster`, in the format ElastiCache uses. */
export function clusterConfigReply(
  version: number,
  nodes: readonly { host: string; port: number }[],
): Buffer {
  const body = `${version}\n${nodes.map((n) => `${n.host}|${n.host}|${n.port}`).join(' ')}\n`;
  return Buffer.from(`CONFIG cluster 0 ${Buffer.byteLength(body)}\r\n${body}\r\nEND\r\n`);
}

type LineHandler = (line: string) => { replace?: Buffer; skip?: number };

/** Splits a byte stream into protocol lines and length-delimited data blocks. */
class TextScanner {
  private partial: Buffer[] = [];
  private partialLength = 0;
  private skip = 0;
  passthrough = false;

  constructor(private readonly onLine: LineHandler) {}

  push(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    if (this.partialLength === 0 && this.skip === 0 && chunk.length > 0 && chunk[0] === 0x80) {
      this.passthrough = true; // binary protocol
      return chunk;
    }
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.skip -= n;
        pos += n;
        continue;
      }
      const nl = chunk.indexOf(0x0a, pos);
      if (nl < 0) {
        this.partial.push(chunk.subarray(pos));
        this.partialLength += chunk.length - pos;
        if (this.partialLength > MAX_LINE) {
          out.push(...this.partial);
          this.partial = [];
          this.partialLength = 0;
          this.passthrough = true;
        }
        break;
      }
      const piece = chunk.subarray(pos, nl + 1);
      const raw = this.partialLength > 0 ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialLength = 0;
      pos = nl + 1;
      const line = raw.toString('latin1').replace(/\r?\n$/, '');
      const action = this.onLine(line);
      out.push(action.replace ?? raw);
      this.skip = action.skip ?? 0;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

const STORAGE = /^(set|add|replace|append|prepend|cas) \S+ \d+ -?\d+ (\d+)/i;
const META_SET = /^ms \S+ (\d+)/i;
const VALUE = /^VALUE \S+ \d+ (\d+)/;
const META_VALUE = /^VA (\d+)/;

function dataLength(m: RegExpExecArray | null): number | undefined {
  if (!m) return undefined;
  const n = Number(m[m.length - 1]);
  return Number.isSafeInteger(n) && n >= 0 ? n + CRLF.length : undefined;
}

export interface DiscoveryInterceptor {
  /** Client→server bytes, with `config get cluster` turned into `version`. */
  toServer(chunk: Buffer): Buffer;
  /** Server→client bytes, with the VERSION reply to an intercepted request turned into the config. */
  toClient(chunk: Buffer): Buffer;
}

export function createDiscoveryInterceptor(answer: () => Buffer): DiscoveryInterceptor {
  // One entry per `version` request in flight, in order: true where it stands for our config.
  const pending: boolean[] = [];
  const requests = new TextScanner((line) => {
    const lower = line.trim().toLowerCase();
    if (lower === 'config get cluster') {
      pending.push(true);
      return { replace: Buffer.from('version\r\n') };
    }
    if (lower === 'version') pending.push(false);
    const skip = dataLength(STORAGE.exec(line)) ?? dataLength(META_SET.exec(line));
    return skip === undefined ? {} : { skip };
  });
  const replies = new TextScanner((line) => {
    if (line.startsWith('VERSION ') && pending.length > 0) {
      return pending.shift() ? { replace: answer() } : {};
    }
    const skip = dataLength(VALUE.exec(line)) ?? dataLength(META_VALUE.exec(line));
    return skip === undefined ? {} : { skip };
  });
  return {
    toServer: (chunk) => requests.push(chunk),
    toClient: (chunk) => replies.push(chunk),
  };
}

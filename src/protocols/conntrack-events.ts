// Parser for the event lines of `conntrack -E -o id` (conntrack-tools 1.4): the kernel data path
// follows its sessions through them. Pure and bounded: a line in, an event or undefined out.
//   [NEW] tcp      6 120 SYN_SENT src=A dst=B sport=P dport=Q [UNREPLIED] src=… mark=18248 id=42
//   [UPDATE] tcp   6 120 TIME_WAIT src=A dst=B sport=P dport=Q src=… [ASSURED] mark=18248 id=42

export interface ConntrackEvent {
  readonly type: 'NEW' | 'UPDATE' | 'DESTROY';
  readonly id: string;
  /** TCP state as conntrack names it (SYN_SENT, ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE …). */
  readonly state: string | undefined;
  /** The original direction: the client and the address it dialed. */
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  /** The reply direction's source: the target after DNAT. */
  readonly replySrc: string | undefined;
  readonly replySport: number | undefined;
  readonly mark: number | undefined;
}

const MAX_LINE = 4096;
const TYPE = /^\s*(?:\[[\d.]+\]\s+)?\[(NEW|UPDATE|DESTROY)\]\s+tcp\s+\d+\s+(?:\d+\s+)?([A-Z_]+)?/;

export function parseConntrackEvent(line: string): ConntrackEvent | undefined {
  if (line.length > MAX_LINE) return undefined;
  const head = TYPE.exec(line);
  if (!head) return undefined;
  const fields: Record<string, string[]> = {};
  for (const m of line.matchAll(/\b(src|dst|sport|dport|mark|id)=([^\s]+)/g)) {
    (fields[m[1]!] ??= []).push(m[2]!);
  }
  const src = fields.src?.[0];
  const dst = fields.dst?.[0];
  const sport = Number(fields.sport?.[0]);
  const dport = Number(fields.dport?.[0]);
  const id = fields.id?.[0];
  const port = (n: number) => Number.isInteger(n) && n > 0 && n < 65536;
  if (!src || !dst || !id || !/^\d+$/.test(id) || !port(sport) || !port(dport)) return undefined;
  const replySport = fields.sport?.[1] === undefined ? undefined : Number(fields.sport[1]);
  const mark = fields.mark?.[0] === undefined ? undefined : Number(fields.mark[0]);
  return {
    type: head[1] as ConntrackEvent['type'],
    id,
    state: head[2],
    src,
    dst,
    sport,
    dport,
    replySrc: fields.src?.[1],
    replySport: replySport !== undefined && port(replySport) ? replySport : undefined,
    mark: mark !== undefined && Number.isFinite(mark) ? mark : undefined,
  };
}

/** Parse `packets=N bytes=N` pairs of a `conntrack -G`/`-L` line: [original, reply] bytes. */
export function parseConntrackBytes(line: string): [number, number] | undefined {
  const bytes = [...line.matchAll(/\bbytes=(\d+)/g)].map((m) => Number(m[1]));
  if (bytes.length < 2) return undefined;
  return [bytes[0]!, bytes[1]!];
}

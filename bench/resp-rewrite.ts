// Micro-benchmark: pipelined GET/SET replies through the RESP framer and the cluster reply
// rewriter, against a no-op passthrough and a plain copy of every chunk (about what a relay's
// socket write costs in memory traffic). Run: node --import tsx bench/resp-rewrite.ts
// Environment: MB (stream size, default 64), ROUNDS (default 5; the median is printed).
import { createRespScanner, NEED_MORE } from '../src/protocols/resp-scanner.js';
import { createRespRewriteSession } from '../src/protocols/resp-rewrite.js';

const MB = Number(process.env.MB ?? 64);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CHUNK = 64 * 1024; // a typical socket read

/** SET/GET request and reply streams, cut into socket-sized chunks. */
function workload(valueSize: number) {
  const value = 'v'.repeat(valueSize);
  const reqPair = Buffer.from(
    `*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$${valueSize}\r\n${value}\r\n*2\r\n$3\r\nGET\r\n$10\r\nkey:000001\r\n`,
  );
  const repPair = Buffer.from(`+OK\r\n$${valueSize}\r\n${value}\r\n`);
  const pairs = Math.ceil((MB * 1024 * 1024) / repPair.length);
  const cut = (unit: Buffer) => {
    const all = Buffer.alloc(unit.length * pairs);
    for (let i = 0; i < pairs; i++) unit.copy(all, i * unit.length);
    const chunks: Buffer[] = [];
    for (let p = 0; p < all.length; p += CHUNK) chunks.push(all.subarray(p, p + CHUNK));
    return { bytes: all.length, chunks };
  };
  return { replies: pairs * 2, req: cut(reqPair), rep: cut(repPair) };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const map = (host: string, port: number) =>
  host === '10.0.0.1' ? { host: 'gw', port: port + 1 } : undefined;

function run(valueSize: number) {
  const w = workload(valueSize);
  let sink = 0;
  const contenders: Record<string, () => void> = {
    'no-op passthrough': () => {
      for (const c of w.rep.chunks) sink += ((x: Buffer) => x)(c).length;
    },
    'copy each chunk': () => {
      for (const c of w.rep.chunks) sink += Buffer.from(c).length;
    },
    'framer (scan only)': () => {
      const sc = createRespScanner();
      for (const c of w.rep.chunks) {
        for (let p = 0; p < c.length;) {
          const e = sc.scan(c, p);
          if (e === NEED_MORE) break;
          p = e;
          sink++;
        }
      }
    },
    'rewriter (replies)': () => {
      // The requests go in first (untimed: see the tracker line), as in a pipelined relay the
      // commands precede their replies; then the replies are timed.
      const s = sessions.shift()!;
      for (const c of w.rep.chunks) sink += s.toClient(c).length;
      if (s.tracker.pending !== 0) throw new Error(`tracker out of step: ${s.tracker.pending} pending`);
    },
    'tracker (requests)': () => {
      const s = createRespRewriteSession(map);
      for (const c of w.req.chunks) sink += s.fromClient(c).length;
    },
  };
  const results: Record<string, number> = {};
  const sessions = Array.from({ length: ROUNDS + 1 }, () => {
    const s = createRespRewriteSession(map);
    for (const c of w.req.chunks) s.fromClient(c);
    return s;
  });
  for (const [name, fn] of Object.entries(contenders)) {
    fn(); // warm up
    const secs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) secs.push(time(fn));
    const bytes = name.startsWith('tracker') ? w.req.bytes : w.rep.bytes;
    results[name] = bytes / 1024 / 1024 / median(secs);
  }
  if (sink < 0) console.log(sink);
  const perReplyNs = (1e9 / (results['rewriter (replies)']! * 1024 * 1024)) * (w.rep.bytes / w.replies);
  console.log(
    `\nvalues of ${valueSize} B: ${w.replies} replies, ${(w.rep.bytes / 1048576).toFixed(0)} MiB of replies`,
  );
  for (const [name, mbps] of Object.entries(results)) {
    console.log(`  ${name.padEnd(22)} ${mbps.toFixed(0).padStart(8)} MB/s`);
  }
  console.log(`  rewriter per reply      ${perReplyNs.toFixed(1).padStart(8)} ns`);
  console.log(
    `  ratio rewriter / no-op  ${(results['rewriter (replies)']! / results['no-op passthrough']!).toFixed(4)}`,
  );
  console.log(
    `  ratio rewriter / copy   ${(results['rewriter (replies)']! / results['copy each chunk']!).toFixed(2)}`,
  );
  // The rewriter's cost is per reply (and the tracker's per command), so what a relay keeps depends
  // on what it already spends per request: syscalls, event-loop turns and socket writes.
  const perCmdNs = (1e9 / (results['tracker (requests)']! * 1024 * 1024)) * (w.req.bytes / w.replies);
  console.log(`  tracker per command     ${perCmdNs.toFixed(1).padStart(8)} ns`);
  for (const relayNs of [1000, 2000, 5000]) {
    const kept = relayNs / (relayNs + perReplyNs + perCmdNs);
    console.log(
      `  a relay spending ${String(relayNs).padStart(4)} ns per request keeps ${(kept * 100).toFixed(1)}%`,
    );
  }
}

console.log(
  `RESP rewriter micro-benchmark: ${MB} MiB per contender, median of ${ROUNDS}, ${CHUNK / 1024} KiB chunks`,
);
for (const size of [3, 100, 16384]) run(size);

// Which reply answers which command: a request-side tracker for one client connection.
//
// Fed with the client→target bytes (before they are written to the target), it parses RESP
// request arrays and inline commands incrementally and keeps, in order, what each pipelined
// command expects back. The reply rewriter asks it what the next reply answers and tells it when
// a reply has ended. Only a few commands matter (CLUSTER SLOTS/SHARDS/NODES/REPLICAS/SLAVES, EXEC
// of a transaction that queued one of them, HELLO, RESET, the pub/sub family, CLIENT REPLY,
// MONITOR); every other command is counted as one reply, and runs of them share one queue entry,
// so a pipeline of GETs costs a counter increment per command.
//
// Which commands it tells apart and how their replies are counted: resp-command-kinds.ts; how it
// reads a request's words: resp-request-syntax.ts.
//
// Bounded: header and inline lines ≤ 64 KiB, at most `maxPendingEntries` distinct pending
// entries (runs of plain commands count once) and `maxTransactionLength` queued commands; past
// a bound, or on a request the server would reject as a protocol error, the tracker is `lost`.
import * as kinds from './resp-command-kinds.js';
import type { EntryKind, Expected, Pending, ReplyKind } from './resp-command-kinds.js';
import * as syntax from './resp-request-syntax.js';

export interface CommandTrackerOptions {
  readonly maxLineLength?: number;
  readonly maxPendingEntries?: number;
  readonly maxTransactionLength?: number;
  readonly maxBulkLength?: number;
}

export interface CommandTracker {
  /** Feeds client→target bytes; returns the same chunk, so it fits a transform hook. */
  feed(chunk: Buffer): Buffer;
  /** What the reply starting with byte `type` answers (`plain` when nothing to rewrite). */
  expect(type: number): Expected;
  /** A top-level reply ended: its type byte, announced length, first element, last integer. */
  replyEnded(type: number, length: number, head: () => string, lastInteger: number): void;
  /** How many of the next replies are known to need nothing but counting (fast path). */
  plainRun(): number;
  /** `k` replies of the current plain run ended (they were not errors or pushes). */
  consumePlain(k: number): void;
  /** Commands whose replies are still expected (a run of plain commands counts each). */
  readonly pending: number;
  /** The protocol the connection speaks now, as far as the replies have shown (2 or 3). */
  readonly protocol: 2 | 3;
  /** Why positional tracking stopped, if it did. */
  readonly lost: string | undefined;
}

export function createCommandTracker(options: CommandTrackerOptions = {}): CommandTracker {
  return new Tracker(options);
}

const T_ERROR = 45; // '-'
const T_BLOBERR = 33; // '!'
const T_ARRAY = 42; // '*'
const T_PUSH = 62; // '>'

// Request parser modes.
const M_START = 0;
const M_MBLEN = 1; // the `*<argc>` line
const M_ARGLEN = 2; // a `$<len>` line
const M_ARG = 3; // argument bytes
const M_ARGEND = 4; // the CRLF after an argument
const M_INLINE = 5; // an inline command line
const M_DEAD = 6;

// Local copies: imported bindings are read through accessors under some loaders (tsx), and these
// are used for every command, argument or reply.
const { CLUSTER_SUB, CONFIRM, MESSAGES, EXPECT } = kinds;
const PLAIN = EXPECT.plain;
const { CAPTURE_ARGS, CAPTURE_BYTES, decimal, lower, splitInline } = syntax;

class Tracker implements CommandTracker {
  private readonly maxLine: number;
  private readonly maxEntries: number;
  private readonly maxTxn: number;
  private readonly maxBulk: number;
  // Request parsing.
  private m = M_START;
  private line: Uint8Array = new Uint8Array(256);
  private lineLen = 0;
  private argc = 0;
  private argi = 0;
  private argLeft = 0;
  private endLeft = 0;
  private readonly args: (string | undefined)[] = [undefined, undefined, undefined];
  private readonly cap = new Uint8Array(CAPTURE_BYTES);
  private capLen = -1; // -1: not capturing this argument
  private wantArgs = false;
  // Request-side state.
  private inMulti = false;
  private txn: ReplyKind[] = [];
  private txnOverflow = false;
  private replyOff = false;
  private skipNext = false;
  // The queue of pending entries.
  private q: Pending[] = [];
  private qHead = 0;
  private count = 0;
  // Reply-side state.
  private proto: 2 | 3 = 2;
  private readonly subs = [0, 0, 0]; // channels, patterns, shard channels
  lost: string | undefined;

  constructor(o: CommandTrackerOptions) {
    this.maxLine = o.maxLineLength ?? 64 * 1024;
    this.maxEntries = o.maxPendingEntries ?? 65536;
    this.maxTxn = o.maxTransactionLength ?? 65536;
    this.maxBulk = o.maxBulkLength ?? 2 ** 32;
  }

  get pending(): number {
    return this.count;
  }

  get protocol(): 2 | 3 {
    return this.proto;
  }

  private lose(why: string): void {
    this.lost ??= why;
    this.q = [];
    this.qHead = 0;
    this.count = 0;
  }

  // ------------------------------------------------------------------ request side

  feed(chunk: Buffer): Buffer {
    if (this.m !== M_DEAD) this.parse(chunk);
    return chunk;
  }

  private parse(b: Buffer): void {
    const n = b.length;
    let i = 0;
    while (i < n) {
      const m = this.m;
      if (m === M_ARG) {
        const take = Math.min(n - i, this.argLeft);
        if (this.capLen >= 0) {
          const cap = this.cap;
          let c = this.capLen;
          for (let k = 0; k < take; k++) cap[c++] = b[i + k]!;
          this.capLen = c;
        }
        this.argLeft -= take;
        i += take;
        if (this.argLeft === 0) {
          this.m = M_ARGEND;
          this.endLeft = 2;
        }
        continue;
      }
      if (m === M_ARGEND) {
        // Redis skips the two bytes after an argument without looking at them.
        const take = Math.min(n - i, this.endLeft);
        this.endLeft -= take;
        i += take;
        if (this.endLeft === 0) this.argDone();
        continue;
      }
      if (m === M_START) {
        this.lineLen = 0;
        if (b[i] === T_ARRAY) {
          this.m = M_MBLEN;
          i++;
        } else {
          this.m = M_INLINE;
        }
        continue;
      }
      if (m === M_DEAD) return;
      // A line: `*<argc>`, `$<len>` or an inline command, up to LF.
      let j = i;
      while (j < n && b[j] !== 10) j++;
      if (this.lineLen === 0 && j < n) {
        // Fast path: the whole line is in this chunk; read it in place.
        let e = j;
        if (e > i && b[e - 1] === 13) e--;
        if (e - i > this.maxLine) return this.dead('request line too long');
        const s0 = i;
        i = j + 1;
        this.onLine(b, s0, e);
      } else {
        if (this.lineLen + (j - i) > this.maxLine) return this.dead('request line too long');
        this.append(b, i, j);
        if (j === n) return;
        i = j + 1;
        let e = this.lineLen;
        if (e > 0 && this.line[e - 1] === 13) e--;
        this.lineLen = 0;
        this.onLine(this.line, 0, e);
      }
    }
  }

  private dead(why: string): void {
    // The server answers a malformed request with one error and closes the connection.
    this.m = M_DEAD;
    this.enqueuePlain();
    this.lost ??= why;
  }

  private append(b: Uint8Array, s: number, e: number): void {
    const need = this.lineLen + (e - s);
    if (need > this.line.length) {
      const grown = new Uint8Array(Math.min(this.maxLine + 2, Math.max(need, this.line.length * 2)));
      grown.set(this.line.subarray(0, this.lineLen));
      this.line = grown;
    }
    const l = this.line;
    let o = this.lineLen;
    for (let k = s; k < e; k++) l[o++] = b[k]!;
    this.lineLen = need;
  }

  /** A complete line in l[s, e), CRLF excluded. */
  private onLine(l: Uint8Array, s: number, e: number): void {
    const m = this.m;
    if (m === M_INLINE) {
      this.m = M_START;
      this.inline(l, s, e);
      return;
    }
    if (m === M_MBLEN) {
      const argc = decimal(l, s, e);
      if (Number.isNaN(argc) || argc > 2147483647) return this.dead('bad multibulk length');
      if (argc <= 0) {
        this.m = M_START; // Redis ignores empty multibulk requests
        return;
      }
      this.argc = argc;
      this.argi = 0;
      this.args[0] = this.args[1] = this.args[2] = undefined;
      this.m = M_ARGLEN;
      return;
    }
    // M_ARGLEN
    if (e === s || l[s] !== 36) return this.dead("expected '$'");
    const alen = decimal(l, s + 1, e);
    if (Number.isNaN(alen) || alen < 0 || alen > this.maxBulk) return this.dead('bad bulk length');
    // The command name always; two more arguments only for the commands that need them.
    const want = this.argi === 0 || (this.argi < CAPTURE_ARGS && this.wantArgs);
    this.capLen = want && alen <= CAPTURE_BYTES ? 0 : -1;
    this.argLeft = alen;
    if (alen === 0) {
      this.m = M_ARGEND;
      this.endLeft = 2;
    } else {
      this.m = M_ARG;
    }
  }

  private argDone(): void {
    if (this.argi < CAPTURE_ARGS) {
      // Every command the tracker cares about is 4 to 12 bytes long: GET, SET, DEL… skip the string.
      const c = this.capLen;
      const a = c < 0 ? undefined : this.argi === 0 && (c < 4 || c > 12) ? '' : lower(this.cap, c);
      this.args[this.argi] = a;
      if (this.argi === 0) this.wantArgs = a === 'cluster' || a === 'client' || a === 'hello';
    }
    this.capLen = -1;
    this.argi++;
    if (this.argi < this.argc) {
      this.m = M_ARGLEN;
      return;
    }
    this.m = M_START;
    this.command(this.argc, this.args[0], this.args[1], this.args[2]);
  }

  private inline(l: Uint8Array, s: number, e: number): void {
    const words = splitInline(l, s, e);
    if (words === undefined) return this.dead('unbalanced quotes in inline request');
    if (words.length === 0) return; // Redis ignores empty inline lines
    this.command(words.length, words[0], words[1], words[2]);
  }

  /** One complete command: name, first two arguments (lower-cased, undefined if long). */
  private command(
    argc: number,
    name: string | undefined,
    a1: string | undefined,
    a2: string | undefined,
  ): void {
    if (this.lost !== undefined) return;
    // Fast path: a command the tracker has no interest in (GET, SET, DEL…), outside any mode.
    if (name === '' && !this.inMulti && !this.replyOff && !this.skipNext) return this.enqueuePlain();
    if (this.replyOff) {
      if (name === 'client' && a1 === 'reply' && a2 === 'on') {
        this.replyOff = false;
        this.enqueuePlain();
      }
      return;
    }
    if (this.skipNext) {
      this.skipNext = false;
      return;
    }
    if (name === 'client' && a1 === 'reply' && argc === 3) {
      if (a2 === 'off') return void (this.replyOff = true);
      if (a2 === 'skip') return void (this.skipNext = true);
    }
    if (this.inMulti) {
      switch (name) {
        case 'exec': {
          this.inMulti = false;
          const items = this.txnOverflow ? undefined : this.txn;
          this.txn = [];
          this.txnOverflow = false;
          if (items !== undefined && items.some((k) => k !== 'plain')) this.enqueue('exec', 1, NaN, items);
          else this.enqueuePlain();
          return;
        }
        case 'discard':
          this.inMulti = false;
          this.txn = [];
          this.txnOverflow = false;
          return this.enqueuePlain();
        case 'reset':
          this.inMulti = false;
          this.txn = [];
          return this.enqueue('reset', 1, NaN, undefined);
        case 'multi':
        case 'watch':
          return this.enqueuePlain(); // an error, not queued
        default: {
          const kind = name === 'cluster' && a1 !== undefined ? (CLUSTER_SUB[a1] ?? 'plain') : 'plain';
          if (this.txn.length < this.maxTxn) this.txn.push(kind);
          else this.txnOverflow = true;
          return this.enqueuePlain(); // +QUEUED
        }
      }
    }
    switch (name) {
      case 'multi':
        this.inMulti = true;
        return this.enqueuePlain();
      case 'cluster': {
        const kind = a1 !== undefined ? CLUSTER_SUB[a1] : undefined;
        if (kind !== undefined) return this.enqueue(kind, 1, NaN, undefined);
        return this.enqueuePlain();
      }
      case 'hello':
        return this.enqueue('hello', 1, a1 === undefined ? NaN : Number(a1), undefined);
      case 'reset':
        this.replyOff = this.skipNext = false;
        return this.enqueue('reset', 1, NaN, undefined);
      case 'subscribe':
      case 'psubscribe':
      case 'ssubscribe':
        if (argc < 2) return this.enqueuePlain(); // arity error
        return this.enqueue('sub', argc - 1, CONFIRM[name]!.family, undefined);
      case 'unsubscribe':
      case 'punsubscribe':
      case 'sunsubscribe':
        return this.enqueue('unsub', argc > 1 ? argc - 1 : -1, CONFIRM[name]!.family, undefined);
      case 'monitor':
      case 'sync':
      case 'psync':
        return this.enqueue('lose', 1, NaN, undefined);
      default:
        return this.enqueuePlain();
    }
  }

  private enqueuePlain(): void {
    const q = this.q;
    const last = q.length > this.qHead ? q[q.length - 1]! : undefined;
    this.count++;
    if (last !== undefined && last.kind === 'plain') {
      last.n++;
      return;
    }
    this.push({ kind: 'plain', n: 1, arg: NaN, items: undefined });
  }

  private enqueue(kind: EntryKind, n: number, arg: number, items: readonly ReplyKind[] | undefined): void {
    this.count++;
    this.push({ kind, n, arg, items });
  }

  private push(e: Pending): void {
    if (this.q.length - this.qHead >= this.maxEntries) return this.lose('too many pending commands');
    this.q.push(e);
  }

  // ------------------------------------------------------------------ reply side

  private shift(): void {
    this.qHead++;
    this.count--;
    if (this.qHead === this.q.length) {
      this.q.length = 0;
      this.qHead = 0;
    } else if (this.qHead > 1024 && this.qHead * 2 > this.q.length) {
      this.q = this.q.slice(this.qHead);
      this.qHead = 0;
    }
  }

  private subscribedResp2(): boolean {
    return this.proto === 2 && this.subs[0]! + this.subs[1]! + this.subs[2]! > 0;
  }

  plainRun(): number {
    if (this.lost !== undefined) return Infinity;
    if (this.subscribedResp2()) return 0;
    const e = this.q[this.qHead];
    return e !== undefined && e.kind === 'plain' ? e.n : 0;
  }

  consumePlain(k: number): void {
    if (this.lost !== undefined || k <= 0) return;
    const e = this.q[this.qHead]!;
    e.n -= k;
    this.count -= k;
    if (e.n === 0) {
      this.count++;
      this.shift();
    }
  }

  expect(type: number): Expected {
    if (this.lost !== undefined || type === T_PUSH) return PLAIN;
    const e = this.q[this.qHead];
    if (e === undefined) return PLAIN;
    // In RESP2 subscribed mode Redis refuses CLUSTER commands; an array here is pub/sub traffic.
    if (type === T_ARRAY && this.subscribedResp2()) return PLAIN;
    switch (e.kind) {
      case 'cluster-slots':
      case 'cluster-shards':
      case 'cluster-nodes':
      case 'cluster-replicas':
        return EXPECT[e.kind];
      case 'exec':
        return { kind: 'exec', items: e.items! };
      default:
        return PLAIN;
    }
  }

  replyEnded(type: number, length: number, head: () => string, lastInteger: number): void {
    if (this.lost !== undefined) return;
    const e = this.q[this.qHead];
    const subPending = e !== undefined && (e.kind === 'sub' || e.kind === 'unsub');
    if (
      type === T_PUSH ||
      (type === T_ARRAY && (this.subscribedResp2() || (this.proto === 2 && subPending)))
    ) {
      const h = head();
      const c = length === 3 ? CONFIRM[h] : undefined;
      if (c !== undefined) {
        if (subPending && e.arg === c.family && (e.kind === 'sub') === c.sub) {
          if (e.n === -1) e.n = Math.max(1, this.subs[c.family]!);
          this.follow(c.family, lastInteger);
          if (--e.n <= 0) this.shift();
        } else {
          this.follow(c.family, lastInteger); // e.g. a server-side sunsubscribe after a slot moved
        }
        return;
      }
      if (type === T_PUSH || MESSAGES.has(h)) return; // out-of-band
    }
    if (e === undefined) return; // nothing pending: an unsolicited reply
    switch (e.kind) {
      case 'plain':
        if (--e.n === 0) this.shift();
        else this.count--;
        return;
      case 'hello':
        if (type !== T_ERROR && type !== T_BLOBERR && (e.arg === 2 || e.arg === 3)) this.proto = e.arg;
        return this.shift();
      case 'reset':
        this.proto = 2;
        this.subs[0] = this.subs[1] = this.subs[2] = 0;
        return this.shift();
      case 'lose':
        this.shift();
        return this.lose('monitor or replication stream');
      default:
        // Cluster replies, EXEC, and errors answering (UN)SUBSCRIBE.
        return this.shift();
    }
  }

  /** Follows subscription counts from a confirmation's count (channels + patterns, or shard). */
  private follow(family: number, count: number): void {
    if (!Number.isFinite(count) || count < 0) return;
    const s = this.subs;
    if (family === 2) s[2] = count;
    else if (family === 0) s[0] = Math.max(0, count - s[1]!);
    else s[1] = Math.max(0, count - s[0]!);
  }
}

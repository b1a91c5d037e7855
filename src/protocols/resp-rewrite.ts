// The reply rewriter for one client connection: target→client chunks in, client bytes out, with
// Redis Cluster node addresses replaced through an address map (resp-cluster.ts).
//
// Hot path: the scanner (resp-scanner.ts) walks each chunk to find where replies end; a reply that
// needs no rewriting is never copied, and a chunk made only of such replies is returned as the very
// same Buffer. A reply is held back (and only then copied) when it may need rewriting: an error
// (it may be -MOVED/-ASK; one line, at most 64 KiB) or the answer to a CLUSTER
// SLOTS/SHARDS/NODES/REPLICAS/SLAVES command or to an EXEC that queued one (known from the
// command tracker, resp-command-tracker.ts, fed with the client→target bytes). A held reply is
// parsed, rewritten and re-encoded when it changed (bulk lengths recomputed), or sent as it came.
//
// Failure modes: a malformed reply stream stops rewriting for the rest of the connection and
// passes bytes through untouched (`error` says why; the relay may close instead). A reply to
// rewrite larger than `maxRewriteBytes` is replaced by an error reply (fail closed: private
// addresses do not leak, and the client still gets one reply for its command). If the tracker
// loses track (MONITOR, overflow), cluster replies pass unchanged but MOVED/ASK are still
// rewritten, since those are recognised from the bytes alone.
import type { RespLimits, RespProtocolError } from './resp-limits.js';
import { createRespScanner, FAILED, NEED_MORE } from './resp-scanner.js';
import { encodeReply, parseReply } from './resp-value.js';
import type { Expected } from './resp-command-kinds.js';
import {
  createCommandTracker,
  type CommandTracker,
  type CommandTrackerOptions,
} from './resp-command-tracker.js';
import { rewriteClusterReply, rewriteRedirect, type AddressMap } from './resp-cluster.js';

export type { AddressMap } from './resp-cluster.js';
export { createCommandTracker, type CommandTracker } from './resp-command-tracker.js';

export interface ReplyRewriterOptions {
  /** The tracker fed with this connection's client→target bytes; without one only MOVED/ASK. */
  readonly tracker?: CommandTracker;
  readonly limits?: Partial<RespLimits>;
  /** Largest reply held back for rewriting (default 16 MiB); larger ones become an error reply. */
  readonly maxRewriteBytes?: number;
}

export interface RewriteStats {
  /** Replies seen. */
  replies: number;
  /** Replies held back and parsed because they might need rewriting. */
  inspected: number;
  /** Replies sent changed. */
  rewritten: number;
  /** Replies too large to rewrite, replaced by an error reply. */
  oversized: number;
}

export interface ReplyRewriter {
  /** target→client bytes in, bytes for the client out (the same Buffer when nothing changed). */
  readonly transform: (chunk: Buffer) => Buffer;
  /**
   * The target closed: returns the bytes of a reply still held back (incomplete, so sent as they
   * came) for the relay to write before it ends the client side. Usually empty.
   */
  end(): Buffer;
  /** Set when the reply stream was malformed; from then on bytes pass through untouched. */
  readonly error: RespProtocolError | undefined;
  readonly stats: Readonly<RewriteStats>;
}

export function createReplyRewriter(map: AddressMap, options: ReplyRewriterOptions = {}): ReplyRewriter {
  return new Rewriter(map, options);
}

export interface RespRewriteSession {
  /** client→target: feeds the tracker, returns the chunk itself. */
  readonly fromClient: (chunk: Buffer) => Buffer;
  /** target→client: the rewritten bytes. */
  readonly toClient: (chunk: Buffer) => Buffer;
  readonly tracker: CommandTracker;
  readonly rewriter: ReplyRewriter;
}

/** A tracker and a rewriter wired together for one client connection. */
export function createRespRewriteSession(
  map: AddressMap,
  options: ReplyRewriterOptions & { tracker?: never; trackerOptions?: CommandTrackerOptions } = {},
): RespRewriteSession {
  const tracker = createCommandTracker(options.trackerOptions);
  const rewriter = createReplyRewriter(map, { ...options, tracker });
  return { fromClient: (c) => tracker.feed(c), toClient: rewriter.transform, tracker, rewriter };
}

// Local copies: imported bindings are read through accessors under some loaders (tsx).
const NEED = NEED_MORE;
const FAIL = FAILED;
const T_ERROR = 45; // '-'
const EMPTY = Buffer.alloc(0);
const PLAIN: Expected = Object.freeze({ kind: 'plain' });

class Rewriter implements ReplyRewriter {
  private readonly sc;
  private readonly tracker: CommandTracker | undefined;
  private readonly maxHold: number;
  private held: Buffer[] | undefined; // the reply being held back, in pieces
  private heldBytes = 0;
  private heldFor: Expected = PLAIN;
  private oversized = false; // dropping the rest of a reply too large to rewrite
  private readonly head: () => string;
  error: RespProtocolError | undefined;
  readonly stats: RewriteStats = { replies: 0, inspected: 0, rewritten: 0, oversized: 0 };

  constructor(
    private readonly map: AddressMap,
    o: ReplyRewriterOptions,
  ) {
    this.sc = createRespScanner(o.limits);
    this.tracker = o.tracker;
    this.maxHold = o.maxRewriteBytes ?? 16 * 1024 * 1024;
    this.head = () => this.sc.frameHead();
  }

  readonly transform = (chunk: Buffer): Buffer => {
    if (this.error !== undefined) return chunk;
    const sc = this.sc;
    const tracker = this.tracker;
    const n = chunk.length;
    let out: Buffer[] | undefined;
    let pos = 0;
    let emitFrom = 0;
    while (pos < n) {
      if (this.held === undefined && !this.oversized && !sc.inFrame) {
        // Fast path: a run of replies the tracker only needs counted, scanned in one call.
        const max = tracker === undefined ? Infinity : tracker.plainRun();
        if (max > 0) {
          const r = sc.scanRun(chunk, pos, max);
          const done = sc.runCount;
          if (done > 0) {
            this.stats.replies += done;
            if (tracker !== undefined) tracker.consumePlain(done);
          }
          if (r === FAIL) {
            this.error = sc.error;
            return out === undefined ? chunk : Buffer.concat([...out, chunk.subarray(emitFrom)]);
          }
          if (r !== pos) {
            pos = r;
            continue;
          }
        }
        // A reply starts here: decide whether to hold it back.
        const t = chunk[pos]!;
        const exp = tracker === undefined ? PLAIN : tracker.expect(t);
        if (exp.kind !== 'plain' || t === T_ERROR) {
          if (pos > emitFrom) (out ??= []).push(chunk.subarray(emitFrom, pos));
          emitFrom = pos;
          this.held = [];
          this.heldBytes = 0;
          this.heldFor = exp;
        }
      }
      const end = sc.scan(chunk, pos);
      if (end === FAIL) {
        this.error = sc.error;
        // Pass everything through from here on, the held bytes first.
        const rest = chunk.subarray(emitFrom);
        const pieces = [...(out ?? []), ...(this.held ?? []), rest];
        this.held = undefined;
        return Buffer.concat(pieces);
      }
      if (end === NEED) {
        if (this.held !== undefined) {
          // Copied: the reply continues in a later chunk and the caller may reuse this one.
          this.hold(Buffer.from(chunk.subarray(pos)));
          emitFrom = n;
        } else if (this.oversized) {
          emitFrom = n;
        }
        break;
      }
      this.stats.replies++;
      if (this.held !== undefined) {
        this.hold(chunk.subarray(pos, end));
        if (this.held !== undefined) (out ??= []).push(this.release());
        emitFrom = end;
      }
      if (this.oversized) {
        this.oversized = false;
        (out ??= []).push(
          Buffer.from('-ERR Gatehouse: reply too large to rewrite cluster addresses\r\n', 'latin1'),
        );
        emitFrom = end;
      }
      if (tracker !== undefined)
        tracker.replyEnded(sc.frameType, sc.frameLength, this.head, sc.frameLastInteger);
      pos = end;
    }
    if (out === undefined) {
      if (emitFrom === 0) return chunk;
      return emitFrom >= n ? EMPTY : chunk.subarray(emitFrom);
    }
    if (emitFrom < n) out.push(chunk.subarray(emitFrom));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  };

  end(): Buffer {
    const held = this.held;
    this.held = undefined;
    if (held === undefined || held.length === 0) return EMPTY;
    return held.length === 1 ? held[0]! : Buffer.concat(held);
  }

  private hold(piece: Buffer): void {
    if (this.held === undefined) return;
    this.heldBytes += piece.length;
    if (this.heldBytes > this.maxHold) {
      this.held = undefined;
      this.oversized = true;
      this.stats.oversized++;
      return;
    }
    this.held.push(piece);
  }

  /** The held reply, rewritten if it needs it. */
  private release(): Buffer {
    const bytes = this.held!.length === 1 ? this.held![0]! : Buffer.concat(this.held!);
    this.held = undefined;
    this.stats.inspected++;
    const exp = this.heldFor;
    if (bytes[0] === T_ERROR) {
      const text = bytes.toString('latin1', 1, bytes.length - 2);
      const r = rewriteRedirect(text, this.map);
      if (r === undefined) return bytes;
      this.stats.rewritten++;
      return Buffer.from(`-${r}\r\n`, 'latin1');
    }
    if (exp.kind === 'plain') return bytes;
    const parsed = parseReply(bytes);
    if (!parsed.ok) return bytes;
    const v = rewriteClusterReply(
      exp.kind,
      parsed.value,
      this.map,
      exp.kind === 'exec' ? exp.items : undefined,
    );
    if (v === undefined) return bytes;
    this.stats.rewritten++;
    return encodeReply(v);
  }
}

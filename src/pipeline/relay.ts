// The byte relay between a client and a target: the hot path of every face.
//
// Written by hand rather than with stream.pipeline(): pipeline() destroys both sides when one
// direction ends, which breaks half-close (a client that sends FIN and waits for the rest of the
// reply), and pipe() adds per-chunk stream bookkeeping. Here each direction is a 'data' handler
// that writes straight to the other socket and pauses its source when the kernel buffer is full.
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ReadPump } from './read-pump.js';
import type { CloseReason } from './session-registry.js';
import { idleInterval, type IdleTimers, type IdleWatch } from './idle-watch.js';

export interface RelayResult {
  readonly reason: CloseReason;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly durationMs: number;
  readonly error?: Error;
}

export interface RelayOptions {
  /** Close both sides after this long without a byte either way; 0 disables. */
  readonly idleTimeout: number;
  /** The runtime's shared idle timers (FaceContext.timers); needed when idleTimeout is set. */
  readonly timers?: IdleTimers;
  /** Rewrites target→client chunks (protocol-aware relays); absent = raw bytes. */
  readonly transformToClient?: (chunk: Buffer) => Buffer | null;
  /** Sees (and may rewrite) client→target chunks; absent = raw bytes. */
  readonly transformToTarget?: (chunk: Buffer) => Buffer | null;
  /** When the target ends: bytes a transform still holds, written before the client's FIN. */
  readonly flushToClient?: () => Buffer;
  /**
   * The target was dialed with this pump's `onread`: its bytes come from the pump, not 'data'
   * events. Raw relays only (a transform may keep references into the reused buffer).
   */
  readonly targetPump?: ReadPump;
}

export interface Relay {
  /** Destroy both sides now, recording `reason`. Idempotent. */
  close(reason: CloseReason): void;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly done: Promise<RelayResult>;
}

type Side = (Socket | Duplex) & { [kRelay]?: ByteRelay };

/**
 * The relay a socket belongs to. Every handler below is one module-level function that finds its
 * relay here, instead of a closure per session: with thousands of idle sessions the closures,
 * their contexts and the listener arrays were most of a session's heap (measured: 30 closures and
 * 11 contexts per port-forward session, about 3 KB of its 7.6 KB).
 */
const kRelay = Symbol('gatehouse.relay');

/** How long a client may keep sending after its target has gone, before it is closed. */
const LINGER_MS = 2000;

function bytesRead(s: Side): number {
  return (s as Socket).bytesRead ?? 0;
}

function bytesWritten(s: Side): number {
  return (s as Socket).bytesWritten ?? 0;
}

// The handlers, shared by every relay; `this` is the socket that emitted.
function onData(this: Side, chunk: Buffer): void {
  this[kRelay]!.data(this, chunk);
}
function onDrain(this: Side): void {
  // The other side can take more: resume the side that writes to this one.
  const r = this[kRelay]!;
  (this === r.client ? r.target : r.client).resume();
}
function onEnd(this: Side): void {
  this[kRelay]!.ended(this);
}
function onError(this: Side, err: Error): void {
  this[kRelay]!.failed(this, err);
}
function onClose(this: Side): void {
  this[kRelay]!.closed(this);
}
function onPumpChunk(this: ByteRelay, chunk: Buffer): boolean {
  const ok = this.client.write(chunk);
  // Queued rather than written through: that buffer is the queue's now.
  if ((this.client as Socket).writableLength > 0) this.opts.targetPump!.release();
  return ok;
}

class ByteRelay implements Relay, IdleWatch {
  private readonly started = performance.now();
  private reason: CloseReason | undefined;
  private firstError: Error | undefined;
  private result: RelayResult | undefined;
  private openSides = 2;
  private lingering = false;
  private waiters: ((r: RelayResult) => void)[] | undefined;
  // The idle clock, sampled by the runtime's shared timer (idle-watch.ts): IdleClock's rule kept
  // in two fields rather than an IdleClock object, one allocation fewer per idle session.
  private idleSince = 0;
  private idleMark = -1;
  private idleEvery = 0;

  constructor(
    readonly client: Side,
    readonly target: Side,
    readonly opts: RelayOptions,
    private readonly onDone: ((r: RelayResult) => void) | undefined,
  ) {
    client[kRelay] = this;
    target[kRelay] = this;
    client.on('data', onData);
    if (opts.targetPump) {
      if (opts.transformToClient) throw new Error('a read pump carries raw bytes only');
      opts.targetPump.attach(onPumpChunk.bind(this));
    } else target.on('data', onData);
    for (const side of [client, target]) {
      side.on('drain', onDrain);
      side.on('error', onError);
      side.on('close', onClose);
    }
    // A FIN that came before the relay (a client gone while its target was dialed) was reported
    // to no one: pass it on now, or the target would stay open for good.
    for (const side of [client, target]) {
      if (side.readableEnded) {
        this.reason ??= side === client ? 'client_closed' : 'target_closed';
        process.nextTick(() => this.ended(side));
      } else side.on('end', onEnd);
    }
    // A side that closed before the relay started will not emit 'close' again: without this, the
    // other side stayed open for good (one leaked target connection per such client, found under
    // a handshake benchmark).
    for (const side of [client, target]) {
      if (!side.closed) continue;
      this.reason ??= side === client ? 'client_closed' : 'target_closed';
      this.other(side).destroy();
      // Never from the constructor: whoever made the relay registers it first (session-runner).
      if (--this.openSides === 0) process.nextTick(() => this.finish());
    }
    if (opts.idleTimeout > 0) {
      if (!opts.timers) throw new Error('relay: idleTimeout needs the runtime timers');
      // Idleness is sampled from the byte counters on a shared coarse timer rather than with
      // socket.setTimeout(), which re-arms a timer on every read and write of the hot path. A
      // session closes between idleTimeout and idleTimeout plus one interval after its last byte.
      this.idleSince = this.started;
      this.idleEvery = idleInterval(opts.idleTimeout);
      opts.timers.add(this.idleEvery, this);
    }
  }

  private other(side: Side): Side {
    return side === this.client ? this.target : this.client;
  }

  data(src: Side, chunk: Buffer): void {
    const toTarget = src === this.client;
    const dst = toTarget ? this.target : this.client;
    // The other side is gone (a target that answered and closed): what src still sends is read
    // and dropped while src is told the end (see linger()).
    if (dst.destroyed) return;
    const transform = toTarget ? this.opts.transformToTarget : this.opts.transformToClient;
    const out = transform ? transform(chunk) : chunk;
    if (out !== null && out.length > 0 && !dst.write(out)) src.pause();
  }

  /** FIN from `side`: finish writing to the other side, then FIN there. The other direction carries on. */
  ended(side: Side): void {
    // Who closed first decides the reason when nobody else set one.
    this.reason ??= side === this.client ? 'client_closed' : 'target_closed';
    const dst = this.other(side);
    if (side === this.target) {
      const rest = this.opts.flushToClient?.();
      if (rest && rest.length > 0) dst.write(rest);
    }
    dst.end();
  }

  failed(side: Side, err: Error): void {
    this.firstError ??= err;
    if (side === this.client) return this.close('client_error');
    this.reason ??= 'target_error';
    this.target.destroy();
    // Closed on purpose (idle, terminate, revoke): the client goes too. Otherwise it lingers.
    if (!this.client.destroyed) this.linger();
  }

  closed(side: Side): void {
    // A side that closed cleanly (FIN both ways) has handed all its bytes on; the other side has
    // been told to end and will close after flushing. A client that closed any other way (reset,
    // destroyed) takes the session down with it; a target that did lets the client linger.
    const other = this.other(side);
    if (!(side.readableEnded && side.writableFinished) && !other.destroyed) {
      if (side === this.target) this.linger();
      else other.destroy();
    }
    if (--this.openSides === 0) this.finish();
  }

  /**
   * The target is gone, cleanly or not (a Redis server answers a protocol error and closes while
   * the client is still sending, and the client's next bytes draw a reset). Destroying the client
   * now would throw away what it has not been sent yet: over TLS that is the answer itself, still
   * in the TLS layer, and the client sees an abort where over plain TCP it reads the answer. So
   * the client is ended instead (every byte the target sent, then close_notify and FIN), what it
   * still sends is read and dropped, and it is closed when it ends too or the linger runs out.
   * An HTTP/2 CONNECT stream is treated the same way: END_STREAM after the answer, not
   * RST_STREAM, which discards what nghttp2 still holds for the stream.
   */
  private linger(): void {
    const client = this.client;
    if (this.lingering || client.destroyed) return;
    this.lingering = true;
    client.resume();
    if (!client.writableEnded) client.end();
    const timer = setTimeout(() => client.destroy(), LINGER_MS);
    timer.unref();
    client.once('close', () => clearTimeout(timer));
  }

  /** The shared idle timer's sample (IdleWatch). */
  tick(now: number): void {
    const mark = bytesRead(this.client) + bytesWritten(this.client);
    if (mark !== this.idleMark) {
      this.idleMark = mark;
      this.idleSince = now;
    } else if (now - this.idleSince >= this.opts.idleTimeout) this.close('idle_timeout');
  }

  close(why: CloseReason): void {
    this.reason ??= why;
    this.client.destroy();
    this.target.destroy();
  }

  private finish(): void {
    if (this.result) return;
    if (this.idleEvery > 0) this.opts.timers!.remove(this.idleEvery, this);
    const result: RelayResult = {
      reason: this.reason ?? 'client_closed',
      bytesFromClient: bytesRead(this.client),
      bytesToClient: bytesWritten(this.client),
      durationMs: Math.round(performance.now() - this.started),
      ...(this.firstError ? { error: this.firstError } : {}),
    };
    this.result = result;
    this.onDone?.(result);
    for (const w of this.waiters?.splice(0) ?? []) w(result);
  }

  get bytesFromClient(): number {
    return bytesRead(this.client);
  }

  get bytesToClient(): number {
    return bytesWritten(this.client);
  }

  /** A promise only for whoever asks (tests): the runner's callback needs none. */
  get done(): Promise<RelayResult> {
    if (this.result) return Promise.resolve(this.result);
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }
}

/** Relay bytes between client and target until both sides closed; `onDone` hears the result. */
export function relay(
  client: Side,
  target: Side,
  opts: RelayOptions,
  onDone?: (result: RelayResult) => void,
): Relay {
  return new ByteRelay(client, target, opts, onDone);
}

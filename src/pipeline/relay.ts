// The byte relay between a client and a target: the hot path of every face.
//
// Written by hand rather than with stream.pipeline(): pipeline() destroys both sides when one
// direction ends, which breaks half-close (a client that sends FIN and waits for the rest of the
// reply), and pipe() adds per-chunk stream bookkeeping. Here each direction is a 'data' handler
// that writes straight to the other socket and pauses its source when the kernel buffer is full.
import type { Duplex } from 'node:stream';
import { Socket } from 'node:net';
import type { ReadPump } from './read-pump.js';
import type { CloseReason } from './session-registry.js';
import { IdleClock, idleInterval, type IdleTimers } from './idle-watch.js';

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

type Side = Socket | Duplex;

/** How long a client may keep sending after its target has gone, before it is closed. */
const LINGER_MS = 2000;

function bytesRead(s: Side): number {
  return (s as Socket).bytesRead ?? 0;
}

function bytesWritten(s: Side): number {
  return (s as Socket).bytesWritten ?? 0;
}

/** One direction: src's bytes to dst, with backpressure and half-close. */
function forward(
  src: Side,
  dst: Side,
  transform: ((chunk: Buffer) => Buffer | null) | undefined,
  flush?: () => Buffer,
  pump?: ReadPump,
): void {
  if (pump) {
    if (transform) throw new Error('a read pump carries raw bytes only');
    pump.attach((chunk) => {
      const ok = dst.write(chunk);
      // Queued rather than written through: that buffer is the queue's now.
      if ((dst as Socket).writableLength > 0) pump.release();
      return ok;
    });
  } else
    src.on('data', (chunk: Buffer) => {
      // The other side is gone (a target that answered and closed): what src still sends is
      // read and dropped while src is told the end (see linger in relay()).
      if (dst.destroyed) return;
      const out = transform ? transform(chunk) : chunk;
      if (out !== null && out.length > 0 && !dst.write(out)) src.pause();
    });
  dst.on('drain', () => src.resume());
  // FIN from src: finish writing to dst, then send FIN there. The other direction carries on.
  const onEnd = () => {
    const rest = flush?.();
    if (rest && rest.length > 0) dst.write(rest);
    dst.end();
  };
  // A FIN that came before the relay (a client gone while its target was dialed) was reported to
  // no one: pass it on now, or the target would stay open for good.
  if (src.readableEnded) process.nextTick(onEnd);
  else src.on('end', onEnd);
}

export function relay(client: Side, target: Side, opts: RelayOptions): Relay {
  const started = performance.now();
  let reason: CloseReason | undefined;
  let firstError: Error | undefined;
  let settled = false;
  let resolveDone!: (r: RelayResult) => void;
  const done = new Promise<RelayResult>((r) => (resolveDone = r));
  let openSides = 2;

  const finish = () => {
    if (settled) return;
    settled = true;
    resolveDone({
      reason: reason ?? 'client_closed',
      bytesFromClient: bytesRead(client),
      bytesToClient: bytesWritten(client),
      durationMs: Math.round(performance.now() - started),
      ...(firstError ? { error: firstError } : {}),
    });
  };

  const close = (why: CloseReason) => {
    reason ??= why;
    client.destroy();
    target.destroy();
  };

  // The target is gone, cleanly or not (a Redis server answers a protocol error and closes while
  // the client is still sending, and the client's next bytes draw a reset). Destroying the client
  // now would throw away what it has not been sent yet: over TLS that is the answer itself, still
  // in the TLS layer, and the client sees an abort where over plain TCP it reads the answer. So the
  // client is ended instead (every byte the target sent, then close_notify and FIN), what it still
  // sends is read and dropped, and it is closed when it ends too or the linger runs out.
  // Sockets only (TCP and TLS): an HTTP/2 stream that was ended rather than reset left its
  // session open after the client had gone (the access leak test), so streams keep the reset.
  let lingering = false;
  const linger = () => {
    if (!(client instanceof Socket)) return void client.destroy();
    if (lingering || client.destroyed) return;
    lingering = true;
    client.resume();
    if (!client.writableEnded) client.end();
    const timer = setTimeout(() => client.destroy(), LINGER_MS);
    timer.unref();
    client.once('close', () => clearTimeout(timer));
  };

  forward(client, target, opts.transformToTarget);
  forward(target, client, opts.transformToClient, opts.flushToClient, opts.targetPump);

  // Who closed first decides the reason when nobody else set one.
  if (client.readableEnded) reason = 'client_closed';
  client.on('end', () => (reason ??= 'client_closed'));
  target.on('end', () => (reason ??= 'target_closed'));
  client.on('error', (err: Error) => {
    firstError ??= err;
    close('client_error');
  });
  target.on('error', (err: Error) => {
    firstError ??= err;
    reason ??= 'target_error';
    target.destroy();
    // Closed on purpose (idle, terminate, revoke): the client goes too. Otherwise it lingers.
    if (client.destroyed) return;
    linger();
  });
  const onClose = (side: Side, other: Side) => {
    // A side that closed cleanly (FIN both ways) has handed all its bytes on; the other side has
    // been told to end and will close after flushing. A client that closed any other way (reset,
    // destroyed) takes the session down with it; a target that did lets the client linger.
    if (!(side.readableEnded && side.writableFinished) && !other.destroyed) {
      if (side === target) linger();
      else other.destroy();
    }
    if (--openSides === 0) finish();
  };
  client.on('close', () => onClose(client, target));
  target.on('close', () => onClose(target, client));
  // A side that closed before the relay started (a client gone while its target was dialed) will
  // not emit 'close' again: without this, the other side stayed open for good (one leaked target
  // connection per such client, found under a handshake benchmark).
  for (const [side, other, why] of [
    [client, target, 'client_closed'],
    [target, client, 'target_closed'],
  ] as const) {
    if (!side.closed) continue;
    reason ??= why;
    other.destroy();
    if (--openSides === 0) finish();
  }

  if (opts.idleTimeout > 0) {
    if (!opts.timers) throw new Error('relay: idleTimeout needs the runtime timers');
    // Idleness is sampled from the byte counters on a shared coarse timer (idle-watch.ts) rather
    // than with socket.setTimeout(), which re-arms a timer on every read and write of the hot
    // path. A session closes between idleTimeout and idleTimeout plus one interval after its last
    // byte.
    const clock = new IdleClock(performance.now(), -1);
    const unwatch = opts.timers.watch(idleInterval(opts.idleTimeout), (now) => {
      if (clock.idleFor(now, bytesRead(client) + bytesWritten(client)) >= opts.idleTimeout)
        close('idle_timeout');
    });
    void done.then(unwatch);
  }

  return {
    close,
    get bytesFromClient() {
      return bytesRead(client);
    },
    get bytesToClient() {
      return bytesWritten(client);
    },
    done,
  };
}

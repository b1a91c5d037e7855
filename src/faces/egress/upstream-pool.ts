// The upstream keep-alive pool of the egress proxy: raw sockets to checked addresses, each
// connection's listeners attached once for its life, idle ones kept per address (LIFO), idle and
// stalled ones closed by the proxy's one coarse sweep. Cut apart from the exchange
// (upstream-exchange.ts) because a connection outlives the requests it carries: the pool knows a
// connection's life, the exchange one request and its response; the pool sees the exchange only
// as the ExchangeEvents its socket's events go to.
import type net from 'node:net';
import { IdleClock } from '../../pipeline/idle-watch.js';
import type { ReadPump } from '../../pipeline/read-pump.js';

/**
 * What holds a connection for one request (the exchange of upstream-exchange.ts): the
 * connection's socket events go to it while it does.
 */
export interface ExchangeEvents {
  onData(chunk: Buffer): void;
  /** Does the client side still hold bytes of the last chunk (queued, not yet written)? */
  holdsOutput(): boolean;
  onEnd(): void;
  onClose(): void;
  onError(err: NodeJS.ErrnoException): void;
  onTimeout(): void;
}

/**
 * One upstream connection for its whole life: its socket listeners are attached once and passed to
 * whichever exchange holds it, rather than attached and removed per request (eleven listener
 * changes and two timer re-arms a request, measured at a tenth of the proxy's CPU).
 */
export class UpstreamConnection {
  exchange: ExchangeEvents | undefined;
  /** Bytes either way as the pool's sweeps saw them: no per-request timer or clock read. */
  private readonly idle = new IdleClock(0, -1);

  constructor(
    readonly socket: net.Socket,
    private readonly pool: UpstreamPool,
    readonly key: string,
    pump: ReadPump,
    /** Idle limit: in the pool, or carrying an exchange with no byte either way. */
    private readonly idleTimeout: number,
  ) {
    // Reads come through the pump (one reused buffer, see read-pump.ts). An exchange copies what it
    // keeps; a response that queued part of a chunk keeps that buffer, and the pump takes a new one.
    pump.attach((chunk) => {
      const ex = this.exchange;
      if (!ex) {
        this.drop();
        return false;
      }
      ex.onData(chunk);
      if (ex.holdsOutput()) pump.release();
      return true;
    });
    socket.on('end', () => (this.exchange ? this.exchange.onEnd() : this.drop()));
    socket.on('close', () => {
      pool.untrack(this);
      if (this.exchange) this.exchange.onClose();
      else this.drop();
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.exchange ? this.exchange.onError(err) : this.drop(),
    );
    pool.track(this);
  }

  /**
   * Called every sweep interval: an exchange whose bytes have not moved for idleTimeout times out;
   * a pooled connection idle that long is closed. Counted from the first sweep that sees no change,
   * so either happens up to two sweep intervals late.
   */
  sweep(now: number): void {
    if (this.idleTimeout <= 0) return; // 0: no idle limit
    // Bytes alone mark activity: every exchange starts by writing its request head, so a new one,
    // or requests carried between two sweeps, always move the count.
    const bytes = this.socket.bytesRead + this.socket.bytesWritten;
    if (this.idle.idleFor(now, bytes) < this.idleTimeout) return;
    if (this.exchange) this.exchange.onTimeout();
    else this.drop();
  }

  /** An idle connection that speaks, ends, closes, errs or idles too long is gone. */
  private drop(): void {
    this.pool.forget(this);
    this.socket.destroy();
  }
}

export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConnection[]>();
  /** Every open connection, idle or busy, for the sweep. */
  private readonly live = new Set<UpstreamConnection>();
  private closed = false;

  constructor(
    /** A new connection exists: the owner makes sure sweep() is being called. */
    private readonly onTrack: () => void = () => {},
    private readonly maxIdlePerKey = 64,
  ) {}

  track(c: UpstreamConnection): void {
    this.live.add(c);
    this.onTrack();
  }

  untrack(c: UpstreamConnection): void {
    this.live.delete(c);
    this.forget(c);
  }

  get size(): number {
    return this.live.size;
  }

  /** Idle and stalled connections, checked from one coarse timer instead of a timer per socket. */
  sweep(now: number): void {
    for (const c of this.live) c.sweep(now);
  }

  take(key: string): UpstreamConnection | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      const s = c.socket;
      if (!s.destroyed && s.readable && s.writable) return c;
      s.destroy();
    }
    return undefined;
  }

  give(c: UpstreamConnection): void {
    if (this.closed) {
      // The proxy stopped: a connection that finishes its last response closes with it.
      c.socket.destroy();
      return;
    }
    let list = this.idle.get(c.key);
    if (!list) this.idle.set(c.key, (list = []));
    if (list.length >= this.maxIdlePerKey) {
      c.socket.destroy();
      return;
    }
    list.push(c);
  }

  forget(c: UpstreamConnection): void {
    const list = this.idle.get(c.key);
    const at = list ? list.indexOf(c) : -1;
    if (at >= 0) list!.splice(at, 1);
  }

  /** The proxy stops: idle connections close now, busy ones after their response. */
  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.socket.destroy();
  }
}

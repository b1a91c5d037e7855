// The upstream side of plain HTTP forwarding for bodiless GET/HEAD requests (most proxy traffic):
// a keep-alive pool of raw sockets to checked addresses, the request head written in one write,
// the response framed by protocols/http-response.ts and streamed to the client's response (Node's
// ServerResponse or the fast front's RawResponse) with backpressure. Half the per-request cost of
// http.request in measurements; anything else (request
// bodies, other methods) still goes through http.request.
import net from 'node:net';
import { GatehouseError, isGatehouseError } from '../../errors.js';
import { formatHostPort } from '../../net/address.js';
import { dial } from '../../pipeline/dial.js';
import { IdleClock } from '../../pipeline/idle-watch.js';
import { ReadPump } from '../../pipeline/read-pump.js';
import { ChunkedDecoder, parseResponseHead, type ResponseHead } from '../../protocols/http-response.js';

const MAX_HEAD = 64 * 1024;

/**
 * One upstream connection for its whole life: its socket listeners are attached once and passed to
 * whichever exchange holds it, rather than attached and removed per request (eleven listener
 * changes and two timer re-arms a request, measured at a tenth of the proxy's CPU).
 */
class UpstreamConnection {
  exchange: Exchange | undefined;
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

/**
 * Where a response goes: Node's ServerResponse (requests the HTTP server parsed) or the fast
 * front's RawResponse; both frame the body for the client themselves.
 */
export interface ClientResponse {
  readonly destroyed: boolean;
  readonly headersSent: boolean;
  /** Bytes accepted but not yet handed to the kernel (they may still reference a written chunk). */
  readonly writableLength: number;
  writeHead(status: number, message: string, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(body?: string): unknown;
  destroy(): unknown;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain', listener: () => void): unknown;
}

export interface ExchangeOptions {
  readonly pool: UpstreamPool;
  readonly address: string;
  readonly port: number;
  readonly method: string;
  /** The complete request head, ending in CRLF CRLF. */
  readonly head: string;
  readonly connectTimeout: number;
  readonly idleTimeout: number;
  readonly res: ClientResponse;
  /** Response headers for the client, from the upstream head. */
  readonly clientHeaders: (head: ResponseHead) => string[];
}

export interface ExchangeResult {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly bytesToClient: number;
  /** Set when the exchange failed before the client got a response head. */
  readonly error?: GatehouseError;
}

/**
 * One request/response over a pooled (or new) connection; retries once if a reused one was dead.
 * `onResult` is called once, when the response is complete or has failed.
 */
export function exchange(o: ExchangeOptions, onResult: (r: ExchangeResult) => void): void {
  attempt(o, true, onResult);
}

function attempt(o: ExchangeOptions, mayRetry: boolean, resolve: (r: ExchangeResult) => void): void {
  const key = `${o.address}|${o.port}`;
  const pooled = o.pool.take(key);
  if (pooled) return void new Exchange(o, pooled, mayRetry, resolve).start();
  // A new connection goes through the shared dial step, to the checked address (no lookup).
  const pump = new ReadPump();
  dial({ host: o.address, port: o.port }, { connectTimeout: o.connectTimeout, onread: pump.onread }).then(
    ({ socket }) => {
      if (o.res.destroyed) {
        socket.destroy();
        resolve({ status: 0, contentType: undefined, bytesToClient: 0 });
        return;
      }
      new Exchange(
        o,
        new UpstreamConnection(socket, o.pool, key, pump, o.idleTimeout),
        false,
        resolve,
      ).start();
    },
    (err: unknown) =>
      resolve({
        status: 0,
        contentType: undefined,
        bytesToClient: 0,
        error: isGatehouseError(err)
          ? err
          : new GatehouseError('GH_ERR_DIAL_FAILED', [label(o)], { cause: err }),
      }),
  );
}

function label(o: ExchangeOptions): string {
  return formatHostPort(o.address, o.port);
}

/** One request and its response on one upstream connection. */
class Exchange {
  private buf: Buffer | undefined;
  private head: ResponseHead | undefined;
  private received = 0;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  private bytesToClient = 0;
  private settled = false;
  private readonly onClientClose = () => {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.conn.socket.destroy();
    this.resolve({
      status: this.head?.status ?? 0,
      contentType: this.head?.contentType,
      bytesToClient: this.bytesToClient,
    });
  };
  private readonly onDrain = () => this.conn.socket.resume();

  constructor(
    private readonly o: ExchangeOptions,
    private readonly conn: UpstreamConnection,
    private readonly retryable: boolean,
    private readonly resolve: (r: ExchangeResult) => void,
  ) {}

  start(): void {
    this.conn.exchange = this;
    this.o.res.on('close', this.onClientClose);
    this.o.res.on('drain', this.onDrain);
    this.conn.socket.write(this.o.head, 'latin1');
  }

  /** Does the client side still hold bytes of the last chunk (queued, not yet written)? */
  holdsOutput(): boolean {
    return this.o.res.writableLength > 0;
  }

  private detach(): void {
    this.conn.exchange = undefined;
    this.o.res.removeListener('close', this.onClientClose);
    this.o.res.removeListener('drain', this.onDrain);
  }

  private done(reusable: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.o.res.end();
    const s = this.conn.socket;
    if (reusable) {
      if (s.isPaused()) s.resume();
      this.o.pool.give(this.conn);
    } else s.destroy();
    this.resolve({
      status: this.head!.status,
      contentType: this.head!.contentType,
      bytesToClient: this.bytesToClient,
    });
  }

  private fail(err: GatehouseError, retry: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.conn.socket.destroy();
    const head = this.head;
    if (head) {
      // The client already has a head: all that is left is to cut the response short.
      this.o.res.destroy();
      this.resolve({ status: head.status, contentType: head.contentType, bytesToClient: this.bytesToClient });
    } else if (retry) attempt(this.o, false, this.resolve);
    else this.resolve({ status: 0, contentType: undefined, bytesToClient: this.bytesToClient, error: err });
  }

  private send(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytesToClient += chunk.length;
    if (!this.o.res.write(chunk)) this.conn.socket.pause();
  }

  private body(chunk: Buffer): void {
    const h = this.head!;
    switch (h.body.kind) {
      case 'close':
        return this.send(chunk);
      case 'length': {
        const n = Math.min(this.remaining, chunk.length);
        this.send(n === chunk.length ? chunk : chunk.subarray(0, n));
        this.remaining -= n;
        if (this.remaining === 0) this.done(h.keepAlive && n === chunk.length);
        return;
      }
      case 'chunked': {
        const r = this.decoder!.push(chunk);
        if ('error' in r)
          return this.fail(
            new GatehouseError('GH_ERR_DIAL_FAILED', [label(this.o)], { hint: r.error }),
            false,
          );
        for (const d of r.data) this.send(d);
        if (r.done) this.done(h.keepAlive && r.rest.length === 0);
        return;
      }
      default:
        // No body expected: anything more is a protocol error; do not reuse.
        this.done(h.keepAlive && chunk.length === 0);
    }
  }

  onData(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.head) return this.body(chunk);
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    let head: ResponseHead;
    for (;;) {
      const r = parseResponseHead(buf, this.o.method, MAX_HEAD);
      if ('need' in r) {
        // Kept across reads: a copy, since the pump reuses its buffer.
        this.buf = Buffer.from(buf);
        return;
      }
      if ('error' in r)
        return this.fail(
          new GatehouseError('GH_ERR_DIAL_FAILED', [label(this.o)], {
            hint: `bad reply from upstream: ${r.error}`,
          }),
          false,
        );
      buf = buf.subarray(r.consumed);
      if (r.head.status < 200) {
        // Interim replies (100, 102, 103) are not forwarded; 101 cannot follow a plain GET/HEAD.
        if (r.head.status === 101)
          return this.fail(
            new GatehouseError('GH_ERR_DIAL_FAILED', [label(this.o)], { hint: 'unexpected 101' }),
            false,
          );
        continue;
      }
      head = r.head;
      break;
    }
    this.buf = undefined;
    try {
      this.o.res.writeHead(head.status, head.message, this.o.clientHeaders(head));
    } catch (err) {
      return this.fail(new GatehouseError('GH_ERR_DIAL_FAILED', [label(this.o)], { cause: err }), false);
    }
    this.head = head;
    if (head.body.kind === 'length') this.remaining = head.body.length;
    if (head.body.kind === 'chunked') this.decoder = new ChunkedDecoder();
    if ((head.body.kind === 'length' && this.remaining === 0) || head.body.kind === 'none')
      return this.done(head.keepAlive && buf.length === 0);
    if (buf.length > 0) this.body(buf);
  }

  onEnd(): void {
    if (this.head?.body.kind === 'close') return this.done(false);
    this.onClose();
  }

  onClose(): void {
    this.fail(
      new GatehouseError('GH_ERR_DIAL_FAILED', [label(this.o)], {
        hint: 'the upstream closed the connection',
      }),
      this.retryable && this.received === 0,
    );
  }

  onError(err: NodeJS.ErrnoException): void {
    this.fail(
      new GatehouseError(
        err.code === 'ECONNREFUSED' ? 'GH_ERR_DIAL_REFUSED' : 'GH_ERR_DIAL_FAILED',
        [label(this.o)],
        {
          cause: err,
        },
      ),
      this.retryable && this.received === 0,
    );
  }

  onTimeout(): void {
    this.fail(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [label(this.o)]), false);
  }
}

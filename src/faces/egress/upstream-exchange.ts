// One request and its response over an upstream connection, for bodiless GET/HEAD requests (most
// proxy traffic): a connection from the pool (upstream-pool.ts) or a new one through the shared
// dial step, the request head written in one write, the response framed by
// protocols/http-response.ts and streamed to the client's response (Node's ServerResponse or the
// fast front's RawResponse) with backpressure; one retry when a reused connection was dead. Half
// the per-request cost of http.request in measurements; anything else (request bodies, other
// methods) still goes through http.request. Cut apart from the pool because this is
// one request's life, the pool a connection's.
import { GatehouseError, isGatehouseError } from '../../errors.js';
import { formatHostPort } from '../../net/address.js';
import { dial } from '../../pipeline/dial.js';
import { ReadPump } from '../../pipeline/read-pump.js';
import { ChunkedDecoder, parseResponseHead, type ResponseHead } from '../../protocols/http-response.js';
import { UpstreamConnection, type ExchangeEvents, type UpstreamPool } from './upstream-pool.js';

const MAX_HEAD = 64 * 1024;

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
class Exchange implements ExchangeEvents {
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

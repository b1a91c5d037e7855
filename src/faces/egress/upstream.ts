// The upstream side of plain HTTP forwarding for bodiless GET/HEAD requests (most proxy traffic):
// a keep-alive pool of raw sockets to checked addresses, the request head written in one write,
// the response framed by response-parser.ts and streamed to the client's response (Node's
// ServerResponse or the fast front's RawResponse) with backpressure. Half the per-request cost of
// http.request in measurements; anything else (request
// bodies, other methods) still goes through http.request.
import net from 'node:net';
import { GatehouseError, isGatehouseError } from '../../errors.js';
import { dial } from '../../pipeline/dial.js';
import { ChunkedDecoder, parseResponseHead, type ResponseHead } from './response-parser.js';

const MAX_HEAD = 64 * 1024;

export class UpstreamPool {
  private readonly idle = new Map<string, net.Socket[]>();
  /** The listeners the pool put on each idle socket, so taking one removes exactly those. */
  private readonly watchers = new WeakMap<net.Socket, () => void>();

  constructor(
    private readonly maxIdlePerKey = 64,
    private readonly idleMs = 30_000,
  ) {}

  private unwatch(s: net.Socket): void {
    const drop = this.watchers.get(s);
    if (!drop) return;
    this.watchers.delete(s);
    for (const ev of ['data', 'end', 'close', 'error', 'timeout']) s.removeListener(ev, drop);
    s.setTimeout(0);
  }

  take(key: string): net.Socket | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const s = list.pop()!;
      this.unwatch(s);
      if (!s.destroyed && s.readable && s.writable) return s;
      s.destroy();
    }
    return undefined;
  }

  give(key: string, s: net.Socket): void {
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    if (list.length >= this.maxIdlePerKey) {
      s.destroy();
      return;
    }
    const drop = () => {
      this.unwatch(s);
      const at = list.indexOf(s);
      if (at >= 0) list.splice(at, 1);
      s.destroy();
    };
    // An idle upstream socket that speaks, ends, closes, errs or idles too long is gone.
    this.watchers.set(s, drop);
    for (const ev of ['data', 'end', 'close', 'error']) s.on(ev, drop);
    s.setTimeout(this.idleMs, drop);
    list.push(s);
  }

  destroyIdle(): void {
    for (const list of this.idle.values()) for (const s of list.splice(0)) s.destroy();
  }
}

/**
 * Where a response goes: Node's ServerResponse (requests the HTTP server parsed) or the fast
 * front's RawResponse; both frame the body for the client themselves.
 */
export interface ClientResponse {
  readonly destroyed: boolean;
  readonly headersSent: boolean;
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

/** One request/response over a pooled (or new) connection; retries once if a reused one was dead. */
export function exchange(o: ExchangeOptions): Promise<ExchangeResult> {
  return new Promise((resolve) => attempt(o, true, resolve));
}

function attempt(o: ExchangeOptions, mayRetry: boolean, resolve: (r: ExchangeResult) => void): void {
  const key = `${o.address}|${o.port}`;
  const label = o.address.includes(':') ? `[${o.address}]:${o.port}` : `${o.address}:${o.port}`;
  const pooled = o.pool.take(key);
  if (pooled) return run(o, key, label, pooled, mayRetry, resolve);
  // A new connection goes through the shared dial step, to the checked address (no lookup).
  dial({ host: o.address, port: o.port }, { connectTimeout: o.connectTimeout }).then(
    ({ socket }) => {
      if (o.res.destroyed) {
        socket.destroy();
        resolve({ status: 0, contentType: undefined, bytesToClient: 0 });
        return;
      }
      run(o, key, label, socket, false, resolve);
    },
    (err: unknown) =>
      resolve({
        status: 0,
        contentType: undefined,
        bytesToClient: 0,
        error: isGatehouseError(err)
          ? err
          : new GatehouseError('GH_ERR_DIAL_FAILED', [label], { cause: err }),
      }),
  );
}

function run(
  o: ExchangeOptions,
  key: string,
  label: string,
  s: net.Socket,
  retryable: boolean,
  resolve: (r: ExchangeResult) => void,
): void {
  const res = o.res;
  let buf: Buffer | undefined;
  let head: ResponseHead | undefined;
  let received = 0;
  let remaining = 0;
  let decoder: ChunkedDecoder | undefined;
  let bytesToClient = 0;
  let settled = false;

  const cleanup = () => {
    s.removeListener('data', onData);
    s.removeListener('end', onEnd);
    s.removeListener('close', onClose);
    s.removeListener('error', onError);
    s.removeListener('timeout', onTimeout);
    res.removeListener('close', onClientClose);
    res.removeListener('drain', onDrain);
  };
  const done = (reusable: boolean) => {
    if (settled) return;
    settled = true;
    cleanup();
    res.end();
    if (reusable) {
      s.setTimeout(0);
      s.resume();
      o.pool.give(key, s);
    } else s.destroy();
    resolve({ status: head!.status, contentType: head!.contentType, bytesToClient });
  };
  const fail = (err: GatehouseError, retry: boolean) => {
    if (settled) return;
    settled = true;
    cleanup();
    s.destroy();
    if (head) {
      // The client already has a head: all that is left is to cut the response short.
      res.destroy();
      resolve({ status: head.status, contentType: head.contentType, bytesToClient });
    } else if (retry) attempt(o, false, resolve);
    else resolve({ status: 0, contentType: undefined, bytesToClient, error: err });
  };
  const send = (chunk: Buffer) => {
    if (chunk.length === 0) return;
    bytesToClient += chunk.length;
    if (!res.write(chunk)) s.pause();
  };
  const onDrain = () => s.resume();
  const body = (chunk: Buffer) => {
    const h = head!;
    if (h.body.kind === 'close') return send(chunk);
    if (h.body.kind === 'length') {
      const n = Math.min(remaining, chunk.length);
      send(chunk.subarray(0, n));
      remaining -= n;
      if (remaining === 0) done(h.keepAlive && n === chunk.length);
      return;
    }
    if (h.body.kind === 'chunked') {
      const r = decoder!.push(chunk);
      if ('error' in r)
        return fail(new GatehouseError('GH_ERR_DIAL_FAILED', [label], { hint: r.error }), false);
      for (const d of r.data) send(d);
      if (r.done) done(h.keepAlive && r.rest.length === 0);
      return;
    }
    // No body expected: anything more is a protocol error; do not reuse.
    done(h.keepAlive && chunk.length === 0);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (head) return body(chunk);
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const r = parseResponseHead(buf, o.method, MAX_HEAD);
      if ('need' in r) return;
      if ('error' in r)
        return fail(
          new GatehouseError('GH_ERR_DIAL_FAILED', [label], { hint: `bad reply from upstream: ${r.error}` }),
          false,
        );
      buf = buf.subarray(r.consumed);
      if (r.head.status < 200) {
        // Interim replies (100, 102, 103) are not forwarded; 101 cannot follow a plain GET/HEAD.
        if (r.head.status === 101)
          return fail(new GatehouseError('GH_ERR_DIAL_FAILED', [label], { hint: 'unexpected 101' }), false);
        continue;
      }
      head = r.head;
      break;
    }
    const h = head;
    try {
      res.writeHead(h.status, h.message, o.clientHeaders(h));
    } catch (err) {
      head = undefined;
      return fail(new GatehouseError('GH_ERR_DIAL_FAILED', [label], { cause: err }), false);
    }
    if (h.body.kind === 'length') remaining = h.body.length;
    if (h.body.kind === 'chunked') decoder = new ChunkedDecoder();
    const rest = buf;
    buf = undefined;
    if (h.body.kind === 'length' && remaining === 0) return done(h.keepAlive && rest.length === 0);
    if (h.body.kind === 'none') return done(h.keepAlive && rest.length === 0);
    if (rest.length > 0) body(rest);
  };
  const onEnd = () => {
    if (head?.body.kind === 'close') return done(false);
    onClose();
  };
  const onClose = () =>
    fail(
      new GatehouseError('GH_ERR_DIAL_FAILED', [label], { hint: 'the upstream closed the connection' }),
      retryable && received === 0,
    );
  const onError = (err: NodeJS.ErrnoException) =>
    fail(
      new GatehouseError(
        err.code === 'ECONNREFUSED' ? 'GH_ERR_DIAL_REFUSED' : 'GH_ERR_DIAL_FAILED',
        [label],
        {
          cause: err,
        },
      ),
      retryable && received === 0,
    );
  const onTimeout = () => fail(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [label]), false);
  const onClientClose = () => {
    if (settled) return;
    settled = true;
    cleanup();
    s.destroy();
    resolve({ status: head?.status ?? 0, contentType: head?.contentType, bytesToClient });
  };
  s.on('data', onData);
  s.on('end', onEnd);
  s.on('close', onClose);
  s.on('error', onError);
  s.setTimeout(o.idleTimeout);
  s.on('timeout', onTimeout);
  res.on('close', onClientClose);
  res.on('drain', onDrain);
  s.write(o.head);
}

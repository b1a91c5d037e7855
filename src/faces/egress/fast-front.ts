// The egress proxy's front door: reads request heads off the accepted socket itself and serves the
// common cases here, bodiless GET/HEAD in absolute-form and CONNECT, without Node's HTTP server.
// Anything else (a body, Upgrade, HTTP/1.0, a head split across reads, anything unusual) hands the
// connection, with the bytes already read, to the full HTTP server for the rest of its life.
//
// Why by hand: per request, Node's HTTP server (IncomingMessage, ServerResponse, timers, header
// objects) costs more CPU than everything else the proxy does; this path is what lets one core
// outrun Squid. The head reader is strict and falls back rather than guess (http-request-head.ts).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { parseRequestHead, type RequestHead } from '../../protocols/http-request-head.js';
import { hasControlChar, isToken } from '../../protocols/http-syntax.js';
import { IdleClock } from '../../pipeline/idle-watch.js';
import type { ClientResponse } from './upstream-exchange.js';

/** A request as the proxy's decision code sees it, from this front or from Node's server. */
export interface ProxyRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly proxyAuthorization: string | undefined;
  readonly socket: Socket;
}

export interface FastHandlers {
  readonly maxHeaderSize: () => number;
  /** A new connection must send its first head within this (then `headTimeout`, a 408). */
  readonly headersTimeout: () => number;
  /** Idle between requests: closed silently after this. */
  readonly keepAliveTimeout: number;
  /** True once the proxy drains: answer in-flight requests with Connection: close. */
  readonly draining: () => boolean;
  /** Serve one bodiless GET/HEAD; `done` once the response is complete or abandoned. */
  readonly request: (req: ProxyRequest, res: RawResponse, done: () => void) => void;
  /**
   * The socket now carries a CONNECT tunnel (or its refusal); `head` is what followed the request.
   * The socket is paused: the handler resumes it once it listens.
   */
  readonly connect: (req: ProxyRequest, head: Buffer) => void;
  /** The first head did not arrive in time; the socket is the handler's now. */
  readonly headTimeout: (socket: Socket) => void;
  /** Give the connection to Node's HTTP server, `pending` first. */
  readonly handOff: (socket: Socket, pending: Buffer | undefined) => void;
}

const ABSOLUTE_HTTP = /^http:\/\//i;
/** Buffered bytes allowed while a request is in flight (the next pipelined head) before pausing. */
const PIPELINE_LIMIT = 64 * 1024;
/** Body chunks up to this size leave with their head and framing in one buffer (one copy). */
const COALESCE_MAX = 8 * 1024;

/** Serves one accepted connection; returns a handle to close it when idle (shutdown). */
export function serveFast(socket: Socket, h: FastHandlers): FastConnection {
  return new FastConnection(socket, h);
}

export class FastConnection {
  private buf: Buffer | undefined;
  private current: RawResponse | undefined;
  private ended = false;
  private released = false;
  private closeAfter = false;
  private served = 0;
  /** Idle time as the sweeps see it, from the accept for the first head (see sweep()). */
  private readonly idle = new IdleClock(performance.now(), 0);
  /** Inside the request handler: a response that completes there must not re-enter next(). */
  private dispatching = false;
  /** The last response went out (or was cut short): nothing more is read on this connection. */
  private over = false;

  constructor(
    private readonly socket: Socket,
    private readonly h: FastHandlers,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('error', noop);
  }

  /** Idle: close now. Busy: close after the response in flight. */
  closeWhenIdle(): void {
    if (this.released) return;
    if (this.current) this.closeAfter = true;
    else this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    // After the last response (Connection: close) the client may still send: read and drop it
    // (closing at once could reset the connection before the client has read that response); the
    // sweep closes the connection after keepAliveTimeout.
    if (this.over) return;
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.current) {
      if (this.buf.length > PIPELINE_LIMIT) this.socket.pause();
      return;
    }
    this.next();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (!this.current) this.socket.end();
  };

  private readonly onClose = (): void => {
    const res = this.current;
    this.current = undefined;
    res?.emit('close');
  };

  private readonly onDrain = (): void => {
    this.current?.emit('drain');
  };

  /**
   * Idleness, checked by the proxy's sweeper every so often rather than with socket.setTimeout(),
   * which re-arms a timer on every read and write (measured at about 5% of plain-HTTP throughput).
   * The first head must come within headersTimeout of the accept; between requests the connection
   * may idle keepAliveTimeout, counted from the first sweep that sees it idle. So the first head
   * times out up to one sweep interval late, an idle keep-alive connection up to two.
   */
  sweep(now: number): void {
    if (this.released) return;
    // The mark is the request in flight (or unread bytes) while there is one, else the count
    // served: a request started or finished since the last look restarts the idle time. (A
    // connection that is over has no buf: what it read after its last response was dropped.)
    const idleFor = this.idle.idleFor(now, this.current ?? this.buf ?? this.served);
    if (this.current || this.buf) return;
    const limit = this.served === 0 ? this.h.headersTimeout() : this.h.keepAliveTimeout;
    // 0 turns the limit off, as it does for Node's server and for socket timeouts.
    if (limit <= 0 || idleFor < limit) return;
    if (this.served > 0) return void this.socket.destroy();
    this.release();
    this.h.headTimeout(this.socket);
  }

  private release(): void {
    this.released = true;
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
    s.removeListener('error', noop);
  }

  private next(): void {
    while (this.buf && !this.current && !this.released && !this.over) {
      const r = parseRequestHead(this.buf, this.h.maxHeaderSize());
      // The head arrives in pieces (a slow or unusual client): Node's server times it out, or
      // answers a head cut short by the client's FIN.
      if ('need' in r) return this.giveToServer();
      if ('fallback' in r) return this.giveToServer();
      const head = r.head;
      const rest = this.buf.subarray(r.consumed);
      if (head.method === 'CONNECT') {
        this.buf = undefined;
        // Paused until the tunnel's relay listens: bytes the client sends while the proxy decides
        // and dials wait in the socket instead of being emitted to no one.
        this.socket.pause();
        this.release();
        this.h.connect(this.request(head), rest);
        return;
      }
      if ((head.method !== 'GET' && head.method !== 'HEAD') || !ABSOLUTE_HTTP.test(head.target))
        return this.giveToServer();
      this.buf = rest.length > 0 ? rest : undefined;
      if (!head.keepAlive) this.closeAfter = true;
      const res = new RawResponse(this.socket, head.method, () => this.closeAfter || this.h.draining());
      this.current = res;
      // Idleness is the sweeper's (see sweep()); a request in flight is never idle here, the
      // upstream side has its own timeout.
      this.served++;
      // A refusal completes inside this call; the loop then serves the next pipelined request
      // instead of afterResponse() recursing into next().
      this.dispatching = true;
      this.h.request(this.request(head), res, () => this.afterResponse(res));
      this.dispatching = false;
    }
    if (!this.buf && !this.current && !this.released && !this.over && this.ended) this.socket.end();
  }

  private afterResponse(res: RawResponse): void {
    if (this.current !== res) return;
    this.current = undefined;
    if (this.socket.destroyed || !res.finished || res.closing) {
      // A response cut short or announced as the last: the connection ends with it, and what was
      // pipelined behind it is not served.
      this.over = true;
      this.buf = undefined;
      if (this.socket.destroyed) return;
      if (res.finished) this.socket.end();
      else this.socket.destroy();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.dispatching) this.next();
  }

  private giveToServer(): void {
    const pending = this.buf;
    this.buf = undefined;
    this.release();
    this.h.handOff(this.socket, pending);
  }

  private request(head: RequestHead): ProxyRequest {
    return {
      method: head.method,
      url: head.target,
      rawHeaders: head.rawHeaders,
      proxyAuthorization: head.proxyAuthorization,
      socket: this.socket,
    };
  }
}

function noop(): void {}

let dateSecond = 0;
let dateText = '';
/** The Date header value, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The client side of one response on a raw socket, framed as Node's ServerResponse would frame it:
 * Content-Length kept, otherwise chunked; nothing for HEAD, 1xx, 204 and 304; Date added when the
 * upstream sent none; Connection: close when this is the connection's last response. The head is
 * held until the first body bytes so both leave in one write.
 */
export class RawResponse extends EventEmitter implements ClientResponse {
  headersSent = false;
  finished = false;
  /** This response announced Connection: close. */
  closing = false;
  private pendingHead: string | undefined;
  private chunked = false;
  private bodiless = false;

  constructor(
    private readonly socket: Socket,
    private readonly method: string,
    private readonly lastResponse: () => boolean,
  ) {
    super();
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  writeHead(status: number, message: string, headers: readonly string[]): this {
    if (this.headersSent) throw new Error('headers already sent');
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    let length = false;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      // A CR or LF here would split the response (callers pass parsed, checked values; this is
      // the last line of defence, by character table rather than regular expression).
      if (!isToken(name) || hasControlChar(value)) throw new Error(`bad header ${name}`);
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      head += `${name}: ${value}\r\n`;
    }
    if (status < 100 || status > 999) throw new Error(`bad status ${status}`);
    this.bodiless = this.method === 'HEAD' || status < 200 || status === 204 || status === 304;
    if (!length && !this.bodiless) {
      this.chunked = true;
      head += 'Transfer-Encoding: chunked\r\n';
    }
    if (!date) head += `Date: ${httpDate()}\r\n`;
    if (this.lastResponse()) {
      this.closing = true;
      head += 'Connection: close\r\n';
    }
    this.pendingHead = `${head}\r\n`;
    this.headersSent = true;
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.finished || this.socket.destroyed) return false;
    if (chunk.length === 0 && this.pendingHead === undefined) return true;
    const s = this.socket;
    if (this.bodiless || chunk.length === 0) {
      this.flushHead();
      return !s.writableNeedDrain;
    }
    if (chunk.length <= COALESCE_MAX) {
      // Head, chunk framing and a small body in one buffer and one write: cheaper than the corked
      // writev of three or four pieces, and the caller's (reused) buffer is free at once.
      const prefix = this.chunked
        ? `${this.pendingHead ?? ''}${chunk.length.toString(16)}\r\n`
        : (this.pendingHead ?? '');
      this.pendingHead = undefined;
      const out = Buffer.allocUnsafe(prefix.length + chunk.length + (this.chunked ? 2 : 0));
      out.write(prefix, 0, 'latin1');
      chunk.copy(out, prefix.length);
      if (this.chunked) out.write('\r\n', prefix.length + chunk.length, 'latin1');
      s.write(out);
      return !s.writableNeedDrain;
    }
    s.cork();
    this.flushHead();
    if (this.chunked) s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    s.write(chunk);
    if (this.chunked) s.write('\r\n', 'latin1');
    s.uncork();
    return !s.writableNeedDrain;
  }

  end(body?: string): this {
    if (this.finished) return this;
    this.finished = true;
    if (this.socket.destroyed) return this;
    const s = this.socket;
    const hasBody = body !== undefined && body.length > 0 && !this.bodiless;
    if (!hasBody && !this.chunked) {
      // Nothing left but perhaps the head (the usual end of a Content-Length response).
      this.flushHead();
      return this;
    }
    s.cork();
    this.flushHead();
    if (hasBody) {
      const bytes = Buffer.from(body, 'utf8');
      if (this.chunked) s.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
      s.write(bytes);
      if (this.chunked) s.write('\r\n', 'latin1');
    }
    if (this.chunked) s.write('0\r\n\r\n', 'latin1');
    s.uncork();
    return this;
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }

  private flushHead(): void {
    if (this.pendingHead === undefined) return;
    this.socket.write(this.pendingHead, 'latin1');
    this.pendingHead = undefined;
  }
}

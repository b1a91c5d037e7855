// The tunnel of an access endpoint: HTTP CONNECT over mTLS, HTTP/1.1 or HTTP/2 (by ALPN), many
// CONNECT streams per HTTP/2 session. 200 and a relay when allowed; 403 with the reason when the
// certificate or an authorization rule refuses; 502 (504 on timeout) when the target cannot be
// dialed. The HTTP servers here never listen: each verified TLS socket is handed to them.
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { GatehouseError, REASON_HEADER, toWire, wireFor, type WireError } from '../../errors.js';
import { parseHostPort } from '../../net/address.js';
import type { FaceContext } from '../context.js';
import { openTarget, peerOf, startSession, type ClientConnection, type EndpointSpec } from './connection.js';
import { destroyAfter, makeTlsFront, type AccessState, type TlsFront } from './handshake.js';
import { refusalMessage, type CertificateRefusal } from './identity.js';
import { handleLogin, LOGIN_PATH } from './login.js';

/** Flow-control windows: Node's 64 KiB default starves bulk streams over a real link. */
export const H2_STREAM_WINDOW = 4 * 1024 * 1024;
export const H2_SESSION_WINDOW = 32 * 1024 * 1024;

const kState = Symbol('gatehouse.access.connection');
type ConnState =
  | { conn: ClientConnection }
  | {
      refused: CertificateRefusal;
      /** A connection without a certificate on a login endpoint: logged as refused unless it logs in. */
      pendingRefusal?: { log: () => void; settled: boolean };
    };
/** The timer that closes an HTTP/1.1 connection that has sent no request head yet. */
const kFirstRequest = Symbol('gatehouse.access.first-request');
type Tagged = Socket & { [kState]?: ConnState; [kFirstRequest]?: NodeJS.Timeout };

/**
 * How long a verified HTTP/1.1 connection may take to send its first request head. The HTTP
 * server here never listens, so Node's own headersTimeout (checked by the listening server's
 * interval) never runs: without this a client with a valid certificate could hold connections
 * open without a word (HAProxy's `timeout http-request` plays this part; 10 s is its usual value).
 */
export const FIRST_REQUEST_MS = 10_000;

function firstRequestCame(socket: Tagged): void {
  clearTimeout(socket[kFirstRequest]);
  socket[kFirstRequest] = undefined;
}

export interface TunnelSpec {
  readonly endpoint: EndpointSpec;
  readonly listener: string;
}

/** Status, reason header and message of every refusal come from the error catalog (errors.ts). */
type Reply = WireError;

function refusalReply(reason: CertificateRefusal): Reply {
  return wireFor('GH_ERR_ACCESS_REFUSED', reason, refusalMessage(reason));
}

const NOT_CONNECT: Reply = toWire(new GatehouseError('GH_ERR_ACCESS_METHOD'), 'method_not_allowed');

/** Decide a CONNECT on a connection: a target to relay to, or the reply that refuses it. */
async function connectTarget(
  ctx: FaceContext,
  spec: TunnelSpec,
  state: ConnState | undefined,
  authority: string | undefined,
  client: () => Duplex,
): Promise<Reply | undefined> {
  if (!state) return wireFor('GH_ERR_ACCESS_REFUSED', 'no_certificate', 'connection not verified');
  if ('refused' in state) return refusalReply(state.refused);
  const target = authority ? parseHostPort(authority) : 'no authority';
  if (typeof target === 'string')
    return toWire(new GatehouseError('GH_ERR_ACCESS_BAD_TARGET', [target]), 'bad_target');
  const opened = await openTarget(ctx, spec.endpoint, state.conn, target);
  if (!opened.ok) return opened.refusal;
  const stream = client();
  if (stream.destroyed) {
    opened.upstream.destroy();
    return undefined;
  }
  startSession(ctx, spec.endpoint, state.conn, opened, stream);
  return undefined;
}

function h1Reply(r: Reply): string {
  const body = `${r.message}\n`;
  return (
    `HTTP/1.1 ${r.status} ${r.statusText}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${REASON_HEADER}: ${r.reason}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** A request that is not a login settles a pending no-certificate refusal: it is logged now. */
function settleRefusal(state: ConnState | undefined): void {
  if (state && 'refused' in state && state.pendingRefusal && !state.pendingRefusal.settled) {
    state.pendingRefusal.settled = true; // once
    state.pendingRefusal.log();
  }
}

function makeH1Server(ctx: FaceContext, spec: TunnelSpec, access: AccessState): http.Server {
  const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 });
  server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const tagged = socket as Tagged;
    firstRequestCame(tagged);
    settleRefusal(tagged[kState]);
    socket.pause();
    void connectTarget(ctx, spec, tagged[kState], req.url, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      socket.resume();
      return socket;
    }).then((reply) => {
      if (reply && !socket.destroyed) {
        socket.end(h1Reply(reply));
        destroyAfter(socket, 2000);
      }
    });
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    firstRequestCame(req.socket as Tagged);
    const state = (req.socket as Tagged)[kState];
    // Answered on every endpoint: one without `login` says so (GH_ERR_LOGIN_UNAVAILABLE, as JSON).
    if (req.url?.split('?')[0] === LOGIN_PATH) {
      if (state && 'refused' in state && state.pendingRefusal) state.pendingRefusal.settled = true;
      void handleLogin(ctx, spec.endpoint, spec.listener, access.login, peerOf(req.socket), req, res);
      return;
    }
    settleRefusal(state);
    const reply: Reply = state && 'refused' in state ? refusalReply(state.refused) : NOT_CONNECT;
    res.writeHead(reply.status, {
      'content-type': 'text/plain; charset=utf-8',
      [REASON_HEADER]: reply.reason,
      connection: 'close',
    });
    res.end(`${reply.message}\n`);
  });
  server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  return server;
}

function makeH2Server(ctx: FaceContext, spec: TunnelSpec): http2.Http2Server {
  const server = http2.createServer({
    settings: { initialWindowSize: H2_STREAM_WINDOW, enableConnectProtocol: false },
    maxSessionMemory: 64,
  });
  server.on('session', (session) => {
    session.on('error', () => {});
    session.once('connect', () => session.setLocalWindowSize(H2_SESSION_WINDOW));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const state = (stream.session?.socket as Tagged | undefined)?.[kState];
    settleRefusal(state);
    const respond = (r: Reply) => {
      if (stream.destroyed || stream.headersSent) return;
      stream.respond({
        ':status': r.status,
        'content-type': 'text/plain; charset=utf-8',
        [REASON_HEADER]: r.reason,
      });
      stream.end(`${r.message}\n`);
      // Refused: the client has no reason to keep its side open; do not let it hold the stream.
      destroyAfter(stream, 2000);
    };
    if (headers[':method'] !== 'CONNECT') {
      respond(state && 'refused' in state ? refusalReply(state.refused) : NOT_CONNECT);
      return;
    }
    stream.pause();
    void connectTarget(ctx, spec, state, headers[':authority'], () => {
      stream.respond({ ':status': 200 });
      stream.resume();
      return stream;
    }).then((reply) => {
      if (reply) respond(reply);
    });
  });
  return server;
}

export function makeTunnel(ctx: FaceContext, spec: TunnelSpec, state: AccessState): TlsFront {
  const h1 = makeH1Server(ctx, spec, state);
  const h2 = makeH2Server(ctx, spec);
  const hand = (socket: TLSSocket, tag: ConnState) => {
    (socket as Tagged)[kState] = tag;
    if (socket.alpnProtocol === 'h2') return void h2.emit('connection', socket);
    if ('conn' in tag) {
      const tagged = socket as Tagged;
      tagged[kFirstRequest] = setTimeout(() => socket.destroy(), FIRST_REQUEST_MS).unref();
      socket.once('close', () => firstRequestCame(tagged));
    }
    h1.emit('connection', socket);
  };
  const login = spec.endpoint.config.login !== undefined;
  return makeTlsFront(
    ctx,
    spec.endpoint,
    spec.listener,
    state,
    ['h2', 'http/1.1'],
    (accepted) => {
      if (accepted.ok) hand(accepted.conn.socket, { conn: accepted.conn });
      else if (accepted.logRefusal) {
        // No certificate, on an endpoint with login: a login (which asks the provider for its
        // keys) gets longer than a refusal needs; anything else, or nothing at all, is logged.
        const tag: ConnState = {
          refused: accepted.reason,
          pendingRefusal: { log: accepted.logRefusal, settled: false },
        };
        accepted.socket.once('close', () => settleRefusal(tag));
        hand(accepted.socket, tag);
        destroyAfter(accepted.socket, 30_000);
      } else {
        // A refused client still gets an HTTP reply saying why, on its first request.
        hand(accepted.socket, { refused: accepted.reason });
        destroyAfter(accepted.socket, 10_000);
      }
    },
    { deferNoCertificate: login },
  );
}

// The first steps of every access endpoint connection: admit by security group on the plain TCP
// socket (before any handshake byte), then the mTLS handshake with the endpoint's current
// SecureContext, then the client certificate checked and turned into an identity.
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { admitOrRefuse } from '../../pipeline/admit.js';
import type { Relay } from '../../pipeline/relay.js';
import type { CloseReason } from '../../pipeline/session-registry.js';
import type { FaceContext } from '../context.js';
import {
  FACE,
  logRefusedCertificate,
  peerOf,
  type ClientConnection,
  type EndpointSpec,
  type Peer,
} from './connection.js';
import { checkPeer, type CertificateRefusal } from './identity.js';
import type { LoginState } from './login.js';
import type { Trust } from './trust.js';

const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface AccessState {
  trust(): Trust | undefined;
  /** The endpoint's TLS options under the current CA, CRL and server certificate. */
  tlsOptions(endpoint: string): tls.SecureContextOptions | undefined;
  whenReady(): Promise<void>;
  /** Keep a front's TLS server current: the face calls update() when CRL or certificate change. */
  register(endpoint: string, front: { update(opts: tls.SecureContextOptions): void }): void;
  /** Register a verified connection until it closes (revocation and timeouts find it here). */
  track(conn: ClientConnection): void;
  /** Provider keys and the used-token record of OpenID Connect logins. */
  readonly login: LoginState;
}

export type Accepted =
  | { ok: true; conn: ClientConnection }
  | {
      ok: false;
      socket: tls.TLSSocket;
      peer: Peer;
      reason: CertificateRefusal;
      /** With `deferNoCertificate`: the refusal is not logged yet; call this if it is not a login. */
      logRefusal?: () => void;
    };

export interface TlsFront {
  handle(socket: Socket): void;
}

/**
 * Admit, handshake, identify, for one listener. The handshake runs in a tls.Server that never
 * listens (the runtime owns the socket; admission happened on it before any TLS byte). `then` is
 * called once per client with a verified connection, or with a refused one the caller may tell why
 * (where its protocol allows) before closing it. Handshake failures are logged and closed here.
 */
export function makeTlsFront(
  ctx: FaceContext,
  spec: EndpointSpec,
  listener: string,
  state: AccessState,
  alpn: string[] | undefined,
  then: (accepted: Accepted) => void,
  opts: { deferNoCertificate?: boolean } = {},
): TlsFront {
  let server: tls.Server | undefined;

  // Ticket keys are the same in every worker for the same TLS material (a ticket issued by one
  // resumes at another) and change with it (a ticket from before a new CRL or certificate cannot
  // resume afterwards): derived from the host's secret and a digest of what the context holds.
  const ticketKeys = (opts: tls.SecureContextOptions): Buffer => {
    const digest = createHash('sha256');
    for (const part of [opts.cert, opts.ca, opts.crl]) digest.update(JSON.stringify(part ?? null));
    return ctx.ticketKeys(`${spec.name}|${digest.digest('hex')}`);
  };

  const create = (opts: tls.SecureContextOptions): tls.Server => {
    const base: tls.TlsOptions = {
      requestCert: true,
      // Verified below, so a refused client can be told why and the refusal logged with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    };
    const srv = tls.createServer({ ...base, ...opts, ticketKeys: ticketKeys(opts) });
    state.register(spec.name, {
      update(next) {
        // setSecureContext resets every field not passed again: pass them all.
        srv.setSecureContext({ ...base, ...next });
        // New ticket keys: a ticket issued before this change cannot resume a session.
        srv.setTicketKeys(ticketKeys(next));
      },
    });
    srv.on('tlsClientError', (err: NodeJS.ErrnoException, tlsSocket: tls.TLSSocket) => {
      tlsSocket.destroy();
      const peer = peerOf(tlsSocket);
      const timeout = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      logRefusedCertificate(
        ctx,
        spec,
        listener,
        peer,
        timeout ? 'handshake_timeout' : 'handshake_failed',
        err.code ?? err.message,
      );
    });
    srv.on('secureConnection', (tlsSocket: tls.TLSSocket) => onSecure(tlsSocket));
    return srv;
  };

  const onSecure = (tlsSocket: tls.TLSSocket) => {
    // Half-open again once verified: relays carry a client's half-close to the target (see handle()).
    tlsSocket.allowHalfOpen = true;
    tlsSocket.on('error', () => {}); // relays and HTTP servers report their own errors
    const peer = peerOf(tlsSocket);
    const trust = state.trust();
    // The CRL in force now, not only the one of the context the handshake used.
    const check = trust
      ? checkPeer(tlsSocket, trust)
      : ({ ok: false, reason: 'bad_certificate', detail: 'no trust material' } as const);
    if (!check.ok) {
      const cert = tlsSocket.getPeerX509Certificate();
      const log = () =>
        logRefusedCertificate(ctx, spec, listener, peer, check.reason, check.detail, {
          ...(cert ? { serial: cert.serialNumber } : {}),
          ...(cert ? { commonName: /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '' } : {}),
        });
      // A client without a certificate may have come to log in: the caller logs the refusal
      // only if it does something else.
      if (opts.deferNoCertificate && check.reason === 'no_certificate') {
        then({ ok: false, socket: tlsSocket, peer, reason: check.reason, logRefusal: log });
        return;
      }
      log();
      then({ ok: false, socket: tlsSocket, peer, reason: check.reason });
      return;
    }
    const relays = new Set<Relay>();
    const conn: ClientConnection = {
      id: ctx.sessions.newId(),
      endpoint: spec.name,
      listener,
      ...peer,
      identity: check.identity,
      startedAt: new Date(),
      socket: tlsSocket,
      relays,
      close(reason: CloseReason) {
        for (const r of [...relays]) r.close(reason);
        tlsSocket.destroy();
      },
    };
    state.track(conn);
    then({ ok: true, conn });
  };

  const handle = (socket: Socket): void => {
    const peer = peerOf(socket);
    // Refused before any TLS byte, and always audited (whatever connectionLog says): a security
    // group denial is the same record on every face.
    const site = { face: FACE, listener, groups: spec.config.securityGroups };
    const connectionLog = {
      endpoint: spec.name,
      clientIp: peer.clientIp,
      clientPort: peer.clientPort,
      status: 'failed',
    } as const;
    if (!admitOrRefuse(ctx, site, socket, peer.source, connectionLog)) return;
    socket.on('error', () => {}); // the TLS socket reports; this keeps a reset from being unhandled
    if (!server) {
      const opts = state.tlsOptions(spec.name);
      if (!opts) {
        // Material not loaded yet (first start) or failed to load: wait once, then give up.
        socket.pause();
        void state.whenReady().then(() => {
          if (socket.destroyed) return;
          if (!state.tlsOptions(spec.name)) {
            socket.destroy();
            logRefusedCertificate(ctx, spec, listener, peer, 'handshake_failed', 'TLS material not loaded');
            return;
          }
          handle(socket);
        });
        return;
      }
      server = create(opts);
    }
    // The runtime accepts half-open sockets and the TLS socket takes that setting from this one. A
    // FIN before the handshake is done must end the connection (then tlsClientError logs it), not
    // leave it open until the handshake timeout: a client that gives up mid-handshake, or rejects
    // the server's certificate, used to hold its socket here for HANDSHAKE_TIMEOUT_MS.
    socket.allowHalfOpen = false;
    server.emit('connection', socket);
  };
  return { handle };
}

/** Close a refused connection gently: let the last words reach the client, then go. */
export function closeAfter(socket: tls.TLSSocket, lastWords: string): void {
  socket.resume(); // drain what the client sends so the close is not a reset
  socket.end(lastWords);
  destroyAfter(socket, 2000);
}

/** Destroy `socket` after `ms` unless it closed first (the timer goes with it: no timer outlives it). */
export function destroyAfter(socket: Duplex, ms: number): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms).unref();
  socket.once('close', () => clearTimeout(timer));
}

// The client side of an access endpoint: one HTTP/2 session over mTLS carrying a CONNECT stream per
// local connection. The session is kept up with exponential backoff; a refusal by the endpoint is
// turned into a plain reason (revoked, expired, not authorized for the target).
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { GatehouseError } from '../errors.js';
import { formatHostPort, parseHostPort } from '../net/address.js';
import type { ClientProfile } from './profile.js';

/** Same windows as the endpoint: Node's 64 KiB default starves bulk streams over a real link. */
const STREAM_WINDOW = 4 * 1024 * 1024;
const SESSION_WINDOW = 32 * 1024 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 15_000;

export interface Refusal {
  readonly status: number;
  /** The endpoint's reason (`x-gatehouse-reason`): revoked, expired, not_in_authorized_group, … */
  readonly reason: string;
  readonly message: string;
}

/** Reasons that no retry can cure: the certificate itself is refused. */
export const FATAL_REASONS = new Set(['revoked', 'expired', 'unknown_ca', 'no_certificate', 'not_yet_valid']);

export class RefusedError extends GatehouseError {
  constructor(
    readonly target: string,
    readonly refusal: Refusal,
  ) {
    super('GH_ERR_ACCESS_REFUSED', [target, `${refusal.message} (${refusal.status} ${refusal.reason})`]);
  }
}

export interface TunnelEvents {
  connected: [];
  disconnected: [error: Error | undefined];
  retry: [delayMs: number, error: Error];
}

/** How long a CONNECT may wait for the endpoint's answer. */
const OPEN_TIMEOUT_MS = 30_000;

export class TunnelClient extends EventEmitter<TunnelEvents> {
  private session: http2.ClientHttp2Session | undefined;
  private connecting: Promise<http2.ClientHttp2Session> | undefined;
  private attempt = 0;
  private closed = false;
  private readonly authority: string;

  constructor(private readonly profile: ClientProfile) {
    super();
    const hp = parseHostPort(profile.address);
    if (typeof hp === 'string') throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [profile.address, hp]);
    this.authority = `https://${formatHostPort(hp.host, hp.port)}`;
  }

  private connectOnce(): Promise<http2.ClientHttp2Session> {
    const p = this.profile;
    return new Promise((resolve, reject) => {
      const session = http2.connect(this.authority, {
        ca: p.ca,
        cert: p.cert,
        key: p.key,
        ...(p.serverName ? { servername: p.serverName } : {}),
        settings: { initialWindowSize: STREAM_WINDOW },
      });
      const onError = (err: Error) => {
        session.destroy();
        reject(err);
      };
      session.once('error', onError);
      session.once('connect', () => {
        session.removeListener('error', onError);
        session.on('error', () => {});
        session.setLocalWindowSize(SESSION_WINDOW);
        session.once('close', () => {
          if (this.session === session) this.session = undefined;
          this.emit('disconnected', undefined);
        });
        resolve(session);
      });
    });
  }

  /** A live session, connecting (with backoff between failures) when there is none. */
  sessionReady(): Promise<http2.ClientHttp2Session> {
    if (this.session && !this.session.closed && !this.session.destroyed) return Promise.resolve(this.session);
    this.connecting ??= (async () => {
      for (;;) {
        if (this.closed) throw new Error('tunnel closed');
        try {
          const s = await this.connectOnce();
          this.attempt = 0;
          this.session = s;
          this.emit('connected');
          return s;
        } catch (err) {
          const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
          this.emit('retry', delay, err as Error);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Open a CONNECT stream to host:port; rejects with RefusedError when the endpoint says no. */
  async open(target: string): Promise<Duplex> {
    const session = await this.sessionReady();
    return new Promise<Duplex>((resolve, reject) => {
      const stream = session.request({ ':method': 'CONNECT', ':authority': target });
      // A session that closes (the endpoint refused the certificate after the handshake, or went
      // away) before the stream is answered must not leave the local connection waiting forever.
      const onSessionClose = () => {
        stream.destroy();
        reject(new Error('the tunnel session closed before the endpoint answered'));
      };
      session.once('close', onSessionClose);
      stream.once('close', () => session.removeListener('close', onSessionClose));
      // The endpoint answers a CONNECT once the target is dialed or refused: bounded by its own
      // connect timeout, so silence past this is a dead path.
      stream.setTimeout(OPEN_TIMEOUT_MS, () => {
        stream.destroy();
        reject(new Error(`no answer from the endpoint within ${OPEN_TIMEOUT_MS / 1000} s`));
      });
      stream.once('error', reject);
      stream.once('response', (headers) => {
        session.removeListener('close', onSessionClose);
        stream.setTimeout(0);
        const status = Number(headers[':status']);
        if (status === 200) {
          stream.removeListener('error', reject);
          resolve(stream);
          return;
        }
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => {
          if (body.length < 4096) body += d;
        });
        stream.once('end', () =>
          reject(
            new RefusedError(target, {
              status,
              reason: String(headers['x-gatehouse-reason'] ?? 'unknown'),
              message: body.trim() || `status ${status}`,
            }),
          ),
        );
      });
    });
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }
}

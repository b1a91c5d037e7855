// The registry of live sessions of every face: what the console lists, what `terminate` and
// revocation act on. A session knows how to close itself; the registry only indexes. Session ids
// come from here, one scheme for every face: a random per-process prefix and a counter.
import { randomBytes } from 'node:crypto';
import { SessionOutcomes } from './session-outcomes.js';

export type CloseReason =
  | 'client_closed'
  | 'target_closed'
  | 'client_error'
  | 'target_error'
  | 'idle_timeout'
  | 'session_timeout'
  | 'terminated'
  | 'revoked'
  | 'certificate_expired'
  | 'redis_login_failed'
  | 'shutdown';

export interface SessionInfo {
  readonly id: string;
  readonly face: string;
  readonly listener: string;
  readonly source: string;
  readonly target: string;
  readonly identity: string | undefined;
  /** Serial of the client certificate (upper-case hex), for sessions of mTLS faces: revocation closes by it. */
  readonly serial?: string;
  readonly startedAt: Date;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

export interface Session extends SessionInfo {
  close(reason: CloseReason): void;
}

/** Byte counters read live: a relay's, a socket pair's, or a plain object a request updates. */
export interface ByteCounts {
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

/** How a session is closed: a function, or an object that closes (a relay, without a closure). */
export type SessionCloser = ((reason: CloseReason) => void) | { close(reason: CloseReason): void };

/**
 * One live session as the registry sees it. A class rather than an object literal with getters
 * and spreads: the literal form measured 3.3 µs per request to build and index, the class 0.3 µs,
 * on the egress path that runs tens of thousands of times a second.
 */
export class LiveSession implements Session {
  constructor(
    readonly id: string,
    readonly face: string,
    readonly listener: string,
    readonly source: string,
    readonly target: string,
    readonly identity: string | undefined,
    private readonly startMs: number,
    private readonly counts: ByteCounts,
    private readonly closer: SessionCloser,
    readonly serial?: string,
  ) {}

  get startedAt(): Date {
    return new Date(this.startMs);
  }

  get bytesFromClient(): number {
    return this.counts.bytesFromClient;
  }

  get bytesToClient(): number {
    return this.counts.bytesToClient;
  }

  close(reason: CloseReason): void {
    const c = this.closer;
    if (typeof c === 'function') c(reason);
    else c.close(reason);
  }
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly emptyWaiters: (() => void)[] = [];
  /** Unique per process (and so per worker process later); the counter makes ids unique within. */
  readonly idPrefix = randomBytes(4).toString('hex');
  private idCounter = 0;
  /**
   * What became of this process's sessions (the metrics read it at scrape time): every face's
   * sessions pass add and remove here, and every face reaches it through its context.
   */
  readonly outcomes = new SessionOutcomes();

  /** A new session id: 16 hex digits, never reused by this registry. */
  newId(): string {
    return `${this.idPrefix}${(++this.idCounter).toString(16).padStart(8, '0')}`;
  }

  add(session: Session): void {
    this.sessions.set(session.id, session);
    this.outcomes.opened(session.face, session.listener);
  }

  remove(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    // Its bytes move from the live count (read at scrape time) to the ended total, once.
    this.outcomes.ended(s.face, s.listener, s.bytesFromClient, s.bytesToClient);
    if (this.sessions.size === 0) for (const wake of this.emptyWaiters.splice(0)) wake();
  }

  /** Resolves true once no session is left, or false after `timeoutMs`. */
  whenEmpty(timeoutMs: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.emptyWaiters.splice(this.emptyWaiters.indexOf(wake), 1);
        resolve(false);
      }, timeoutMs);
      this.emptyWaiters.push(wake);
    });
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The live sessions, for a scrape to read without copying them. */
  live(): IterableIterator<Session> {
    return this.sessions.values();
  }

  list(filter?: (s: Session) => boolean): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.sessions.values()) {
      if (filter && !filter(s)) continue;
      out.push({
        id: s.id,
        face: s.face,
        listener: s.listener,
        source: s.source,
        target: s.target,
        identity: s.identity,
        ...(s.serial === undefined ? {} : { serial: s.serial }),
        startedAt: s.startedAt,
        bytesFromClient: s.bytesFromClient,
        bytesToClient: s.bytesToClient,
      });
    }
    return out;
  }

  /** Close one session; false when there is no such session. */
  terminate(id: string, reason: CloseReason = 'terminated'): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    s.close(reason);
    return true;
  }

  /** Close every session that matches; returns how many. */
  closeWhere(match: (s: Session) => boolean, reason: CloseReason): number {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (match(s)) {
        s.close(reason);
        n++;
      }
    }
    return n;
  }
}

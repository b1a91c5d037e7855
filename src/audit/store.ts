// What the admin API reads of an audit store: the SQLite store of one host, or the fleet's
// PostgreSQL table of every replica (fleet/audit-store.ts). Queries are values (query.ts).
import type { AuditEvent } from './events.js';
import type { AuditQuery } from './query.js';

export interface StoredEvent extends AuditEvent {
  readonly id: number;
  /** The replica that wrote it (a fleet's store). */
  readonly replica?: string;
}

export interface AuditSummary {
  readonly since: string;
  readonly total: number;
  readonly byFace: { face: string; allowed: number; denied: number; other: number }[];
  readonly egress: {
    readonly allowed: number;
    readonly denied: number;
    readonly topAllowed: { host: string; count: number }[];
    readonly topDenied: { host: string; count: number; reason: string | null }[];
  };
}

/** What a timeline asks: a window [since, until) cut into buckets of stepMs, aligned to multiples of it. */
export interface TimelineQuery {
  readonly since: number;
  readonly until: number;
  readonly stepMs: number;
  readonly face?: string | undefined;
}

/**
 * Audit events over time, as the store counts them: only buckets with events, each named by its
 * start `t` (ms since the epoch, a multiple of stepMs). Decisions count events as summary() does
 * (one per admitted or refused connection or request); bytes are those of sessions that closed in
 * the bucket (`closed` events' bytesFromClient and bytesToClient), per listener.
 */
export interface TimelineRows {
  readonly decisions: readonly { t: number; face: string; allowed: number; denied: number }[];
  readonly bytes: readonly {
    t: number;
    face: string;
    listener: string;
    bytesFromClient: number;
    bytesToClient: number;
  }[];
}

export interface AuditRetention {
  readonly maxAge?: number | undefined;
  readonly maxRows?: number | undefined;
}

export interface AuditStore {
  /** Where it is, for the status page ("./gatehouse-audit.db", "postgres://…"). */
  readonly file: string;
  /** Newest first. */
  query(q: AuditQuery): Promise<StoredEvent[]>;
  count(q?: Omit<AuditQuery, 'limit'>): Promise<number>;
  /** Counts per face and decision, and the egress hosts most allowed and denied, since `since`. */
  summary(since: number, top?: number): Promise<AuditSummary>;
  /** Allowed and denied per face, and bytes per listener, in buckets of q.stepMs. */
  timeline(q: TimelineQuery): Promise<TimelineRows>;
  setRetention(retention: AuditRetention): void;
}

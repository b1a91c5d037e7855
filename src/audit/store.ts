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
  setRetention(retention: AuditRetention): void;
}

// The queryable audit store: every audit event of every face in an embedded SQLite database.
// Writes are buffered and land in one transaction per flush (every 100 ms or 500 events), so the
// audit bus never waits on the disk; retention (max age, max rows) is pruned on a timer.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { GatehouseError } from '../errors.js';
import type { AuditEvent, AuditSink } from './events.js';
import { decisionOf, sourceIp, targetHost, whereClause, type AuditQuery } from './query.js';

export interface AuditRetention {
  readonly maxAge?: number | undefined;
  readonly maxRows?: number | undefined;
}

export interface StoredEvent extends AuditEvent {
  readonly id: number;
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

export interface StoreOptions {
  readonly retention?: AuditRetention;
  readonly flushMs?: number;
  readonly batchSize?: number;
  readonly pruneMs?: number;
  readonly onError?: (err: Error) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  event TEXT NOT NULL,
  session TEXT,
  face TEXT NOT NULL,
  listener TEXT,
  source TEXT,
  source_ip TEXT,
  target TEXT,
  target_host TEXT,
  identity TEXT,
  decision TEXT,
  reason TEXT,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_face_ts ON events (face, ts);
CREATE INDEX IF NOT EXISTS events_identity ON events (identity, ts);
CREATE INDEX IF NOT EXISTS events_source_ip ON events (source_ip, ts);
CREATE INDEX IF NOT EXISTS events_decision ON events (decision, ts);
CREATE INDEX IF NOT EXISTS events_target_host ON events (target_host, ts);
CREATE INDEX IF NOT EXISTS events_session ON events (session);
`;

type Row = { id: number; data: string };

export class SqliteAuditStore implements AuditSink {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly insertMany: (events: readonly AuditEvent[]) => void;
  private buffer: AuditEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private retention: AuditRetention;
  private closed = false;
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly onError: (err: Error) => void;

  constructor(file: string, opts: StoreOptions = {}) {
    this.file = file;
    this.retention = opts.retention ?? {};
    this.flushMs = opts.flushMs ?? 100;
    this.batchSize = opts.batchSize ?? 500;
    this.onError = opts.onError ?? ((err) => process.stderr.write(`audit store ${file}: ${err.message}\n`));
    try {
      if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
      this.db = new Database(file);
      if (file !== ':memory:') fs.chmodSync(file, 0o640);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw new GatehouseError('GH_ERR_AUDIT_STORE', [file, (err as Error).message], { cause: err });
    }
    this.insert = this.db.prepare(
      `INSERT INTO events (ts, event, session, face, listener, source, source_ip, target, target_host, identity, decision, reason, data)
       VALUES (@ts, @event, @session, @face, @listener, @source, @source_ip, @target, @target_host, @identity, @decision, @reason, @data)`,
    );
    this.insertMany = this.db.transaction((events: readonly AuditEvent[]) => {
      for (const e of events) this.insert.run(toRow(e));
    });
    this.pruneTimer = setInterval(() => this.safely(() => this.prune()), opts.pruneMs ?? 60_000);
    this.pruneTimer.unref();
    this.safely(() => this.prune());
  }

  setRetention(retention: AuditRetention): void {
    this.retention = retention;
  }

  write(event: AuditEvent): void {
    if (this.closed) return;
    this.buffer.push(event);
    if (this.buffer.length >= this.batchSize) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
      this.flushTimer.unref();
    }
  }

  /** Write what is buffered, in one transaction. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.buffer.length === 0 || this.closed) return;
    const batch = this.buffer;
    this.buffer = [];
    this.safely(() => this.insertMany(batch));
  }

  /** Newest first. Buffered events are flushed first, so a query sees every event emitted before it. */
  query(q: AuditQuery): StoredEvent[] {
    this.flush();
    const w = whereClause(q);
    const rows = this.db
      .prepare(`SELECT id, data FROM events ${w.sql} ORDER BY id DESC LIMIT ?`)
      .all(...w.params, q.limit) as Row[];
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(r.data) as AuditEvent) }));
  }

  count(q: Omit<AuditQuery, 'limit'> = {}): number {
    this.flush();
    const w = whereClause(q);
    return (this.db.prepare(`SELECT count(*) AS n FROM events ${w.sql}`).get(...w.params) as { n: number }).n;
  }

  /** Counts per face and decision, and the egress hosts most allowed and denied, since `since`. */
  summary(since: number, top = 10): AuditSummary {
    this.flush();
    const byFace = this.db
      .prepare(
        `SELECT face,
           sum(decision = 'allowed') AS allowed, sum(decision = 'denied') AS denied,
           sum(decision IS NULL) AS other
         FROM events WHERE ts >= ? GROUP BY face ORDER BY face`,
      )
      .all(since) as AuditSummary['byFace'];
    const hosts = (decision: string) =>
      this.db
        .prepare(
          `SELECT target_host AS host, count(*) AS count, max(reason) AS reason FROM events
           WHERE ts >= ? AND face = 'egressProxy' AND decision = ? AND target_host IS NOT NULL
           GROUP BY target_host ORDER BY count DESC, host LIMIT ?`,
        )
        .all(since, decision, top) as { host: string; count: number; reason: string | null }[];
    const egress = byFace.find((f) => f.face === 'egressProxy');
    return {
      since: new Date(since).toISOString(),
      total: this.count({ since }),
      byFace,
      egress: {
        allowed: egress?.allowed ?? 0,
        denied: egress?.denied ?? 0,
        topAllowed: hosts('allowed').map(({ host, count }) => ({ host, count })),
        topDenied: hosts('denied'),
      },
    };
  }

  /** Apply retention now; returns how many rows went. */
  prune(now = Date.now()): number {
    let n = 0;
    const { maxAge, maxRows } = this.retention;
    if (maxAge !== undefined)
      n += this.db.prepare('DELETE FROM events WHERE ts < ?').run(now - maxAge).changes;
    if (maxRows !== undefined) {
      n += this.db
        .prepare('DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)')
        .run(maxRows).changes;
    }
    return n;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.closed = true;
    clearInterval(this.pruneTimer);
    this.safely(() => this.db.close());
    return Promise.resolve();
  }

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.onError(err as Error);
    }
  }
}

function toRow(e: AuditEvent): Record<string, string | number | null> {
  const ts = Date.parse(e.time);
  return {
    ts: Number.isNaN(ts) ? Date.now() : ts,
    event: e.event,
    session: e.session ?? null,
    face: e.face,
    listener: e.listener ?? null,
    source: e.source ?? null,
    source_ip: e.source ? sourceIp(e.source) : null,
    target: e.target ?? null,
    target_host: e.target ? (targetHost(e.target) ?? null) : null,
    identity: e.identity ?? null,
    decision: decisionOf(e) ?? null,
    reason: e.reason ?? null,
    data: JSON.stringify(e),
  };
}

/** Open the store named by `audit.store` ("none" disables it), resolved against the config directory. */
export function openAuditStore(
  store: string,
  baseDir: string,
  opts: StoreOptions = {},
): SqliteAuditStore | undefined {
  if (store === 'none' || store === '') return undefined;
  return new SqliteAuditStore(store === ':memory:' ? store : path.resolve(baseDir, store), opts);
}

// The queryable audit store: every audit event of every face in an embedded SQLite database.
// Writes are buffered and handed, every 100 ms or 500 events, to a writer thread that inserts each
// batch in one transaction (index upkeep included), so neither the audit bus nor the event loop
// that relays bytes waits on the disk. Retention (max age, max rows) is pruned there on a timer.
// Queries run on a read connection of their own (WAL: readers do not wait for the writer).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { GatehouseError } from '../errors.js';
import type { AuditEvent, AuditSink } from './events.js';
import type {
  AuditRetention,
  AuditStore,
  AuditSummary,
  StoredEvent,
  TimelineQuery,
  TimelineRows,
} from './store.js';

export type { AuditRetention, AuditSummary, StoredEvent, TimelineQuery, TimelineRows } from './store.js';
import { decisionOf, sourceIp, targetHost, whereClause, type AuditQuery } from './query.js';

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
type DbRow = Record<string, string | number | null>;

const INSERT = `INSERT INTO events (ts, event, session, face, listener, source, source_ip, target, target_host, identity, decision, reason, data)
  VALUES (@ts, @event, @session, @face, @listener, @source, @source_ip, @target, @target_host, @identity, @decision, @reason, @data)`;
const PRUNE_AGE = 'DELETE FROM events WHERE ts < ?';
const PRUNE_ROWS = 'DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)';

/** Batches handed to the writer and not yet committed, beyond which new events are dropped. */
const MAX_PENDING_BATCHES = 200;

type WriterMessage =
  | { type: 'batch'; rows: DbRow[] }
  | { type: 'prune'; now: number; maxAge?: number | undefined; maxRows?: number | undefined }
  | { type: 'close' };

/** What the writer does with one message, on its own connection; returns the rows deleted. */
function applyMessage(db: Database.Database, m: WriterMessage): number {
  if (m.type === 'batch') {
    const insert = db.prepare(INSERT);
    db.transaction(() => {
      for (const r of m.rows) insert.run(r);
    })();
    return 0;
  }
  if (m.type === 'prune') {
    let n = 0;
    if (m.maxAge !== undefined) n += db.prepare(PRUNE_AGE).run(m.now - m.maxAge).changes;
    if (m.maxRows !== undefined) n += db.prepare(PRUNE_ROWS).run(m.maxRows).changes;
    return n;
  }
  db.close();
  return 0;
}

// The writer thread: plain CommonJS run with `eval`, so it is the same from dist/ and under tsx.
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const insert = db.prepare(workerData.insert);
const insertMany = db.transaction((rows) => { for (const r of rows) insert.run(r); });
const byAge = db.prepare(workerData.pruneAge);
const byRows = db.prepare(workerData.pruneRows);
parentPort.on('message', (m) => {
  let changes = 0;
  try {
    if (m.type === 'batch') insertMany(m.rows);
    else if (m.type === 'prune') {
      if (m.maxAge !== undefined) changes += byAge.run(m.now - m.maxAge).changes;
      if (m.maxRows !== undefined) changes += byRows.run(m.maxRows).changes;
    } else if (m.type === 'close') db.close();
    parentPort.postMessage({ seq: m.seq, changes });
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: String((err && err.message) || err) });
  }
  if (m.type === 'close') parentPort.close();
});
`;

export class SqliteAuditStore implements AuditSink, AuditStore {
  readonly file: string;
  /** The read connection (queries). Writes go through the writer thread, or here for ':memory:'. */
  private readonly db: Database.Database;
  private readonly writer: Worker | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
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
    // An in-memory database belongs to one connection: no writer thread for it (tests).
    if (file !== ':memory:') {
      const writer = new Worker(WRITER, {
        eval: true,
        workerData: {
          file,
          insert: INSERT,
          pruneAge: PRUNE_AGE,
          pruneRows: PRUNE_ROWS,
          module: createRequire(import.meta.url).resolve('better-sqlite3'),
        },
      });
      writer.unref();
      writer.on('message', (m: { seq: number; changes?: number; error?: string }) => {
        const w = this.waiting.get(m.seq);
        this.waiting.delete(m.seq);
        if (m.error === undefined) return w?.resolve(m.changes ?? 0);
        const err = new Error(m.error);
        this.onError(err);
        w?.reject(err);
      });
      writer.on('error', (err) => this.onError(err));
      this.writer = writer;
    }
    this.pruneTimer = setInterval(() => void this.prune().catch(() => {}), opts.pruneMs ?? 60_000);
    this.pruneTimer.unref();
    void this.prune().catch(() => {});
  }

  setRetention(retention: AuditRetention): void {
    this.retention = retention;
  }

  /** Events dropped because the writer fell too far behind (the JSON lines of audit.log still have them). */
  dropped = 0;

  write(event: AuditEvent): void {
    if (this.closed) return;
    if (this.waiting.size >= MAX_PENDING_BATCHES) {
      // The disk cannot keep up: drop rather than grow without bound or slow the relay.
      if (this.dropped++ % 10_000 === 0)
        this.onError(
          new Error(`writer behind by ${this.waiting.size} batches; ${this.dropped} event(s) dropped`),
        );
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length >= this.batchSize) void this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.flush(), this.flushMs);
      this.flushTimer.unref();
    }
  }

  private send(m: WriterMessage): Promise<number> {
    if (!this.writer) {
      try {
        return Promise.resolve(applyMessage(this.db, m));
      } catch (err) {
        this.onError(err as Error);
        return Promise.reject(err as Error);
      }
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.writer!.postMessage({ ...m, seq });
    });
  }

  /**
   * Hand what is buffered to the writer (one transaction); resolves once it is committed. An
   * empty flush still waits for the batches before it: the writer answers in order.
   */
  flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.closed) return Promise.resolve();
    const rows = this.buffer.map(toRow);
    this.buffer = [];
    return this.send({ type: 'batch', rows }).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Newest first. Buffered events are flushed first, so a query sees every event emitted before it. */
  async query(q: AuditQuery): Promise<StoredEvent[]> {
    await this.flush();
    const w = whereClause(q);
    const rows = this.db
      .prepare(`SELECT id, data FROM events ${w.sql} ORDER BY id DESC LIMIT ?`)
      .all(...w.params, q.limit) as Row[];
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(r.data) as AuditEvent) }));
  }

  async count(q: Omit<AuditQuery, 'limit'> = {}): Promise<number> {
    await this.flush();
    const w = whereClause(q);
    return (this.db.prepare(`SELECT count(*) AS n FROM events ${w.sql}`).get(...w.params) as { n: number }).n;
  }

  /** Counts per face and decision, and the egress hosts most allowed and denied, since `since`. */
  async summary(since: number, top = 10): Promise<AuditSummary> {
    await this.flush();
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
      total: byFace.reduce((n, f) => n + f.allowed + f.denied + f.other, 0),
      byFace,
      egress: {
        allowed: egress?.allowed ?? 0,
        denied: egress?.denied ?? 0,
        topAllowed: hosts('allowed').map(({ host, count }) => ({ host, count })),
        topDenied: hosts('denied'),
      },
    };
  }

  /**
   * Allowed and denied per face, and bytes of closed sessions per listener, in buckets of stepMs
   * (integer division of ts; the step is bound as an integer, since better-sqlite3 binds a JS number
   * as REAL and the division would not truncate).
   */
  async timeline(q: TimelineQuery): Promise<TimelineRows> {
    await this.flush();
    const face = q.face === undefined ? '' : 'AND face = ?';
    const params = [q.stepMs, q.stepMs, q.since, q.until, ...(q.face === undefined ? [] : [q.face])];
    const bucket = '(ts / CAST(? AS INTEGER)) * CAST(? AS INTEGER)';
    const decisions = this.db
      .prepare(
        `SELECT ${bucket} AS t, face,
           sum(decision = 'allowed') AS allowed, sum(decision = 'denied') AS denied
         FROM events WHERE ts >= ? AND ts < ? AND decision IS NOT NULL ${face}
         GROUP BY t, face ORDER BY t, face`,
      )
      .all(...params) as TimelineRows['decisions'];
    const bytes = this.db
      .prepare(
        `SELECT ${bucket} AS t, face, listener,
           coalesce(sum(json_extract(data, '$.bytesFromClient')), 0) AS bytesFromClient,
           coalesce(sum(json_extract(data, '$.bytesToClient')), 0) AS bytesToClient
         FROM events WHERE ts >= ? AND ts < ? AND event = 'closed' AND listener IS NOT NULL ${face}
         GROUP BY t, face, listener ORDER BY t, face, listener`,
      )
      .all(...params) as TimelineRows['bytes'];
    return { decisions, bytes };
  }

  /** Apply retention now (after what is buffered); resolves with how many rows went. */
  async prune(now = Date.now()): Promise<number> {
    const { maxAge, maxRows } = this.retention;
    if (maxAge === undefined && maxRows === undefined) return 0;
    await this.flush();
    if (this.closed) return 0;
    return this.send({ type: 'prune', now, maxAge, maxRows });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pruneTimer);
    await this.flush();
    this.closed = true;
    if (this.writer) {
      await this.send({ type: 'close' }).catch(() => {});
      await this.writer.terminate().catch(() => {});
    }
    this.safely(() => this.db.close());
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

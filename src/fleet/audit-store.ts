// Audit events of every replica in one PostgreSQL table. As a sink it never waits on the database:
// events go into a bounded spool and leave in batches (every 200 ms or 500 events) off the relay's
// path. While PostgreSQL is away the spool holds up to MAX_SPOOL events, then counts what it drops.
// Each event carries (replica, boot, seq), unique in the table, so a batch sent again after a lost
// reply (the commit happened, the answer did not arrive) is not stored twice. As a store it answers
// the admin API's queries over every replica's events.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEvent, AuditSink } from '../audit/events.js';
import { decisionOf, sourceIp, targetHost, whereClause, type AuditQuery } from '../audit/query.js';
import type {
  AuditRetention,
  AuditStore,
  AuditSummary,
  StoredEvent,
  TimelineQuery,
  TimelineRows,
} from '../audit/store.js';
import { redactUrl, type FleetDb } from './db.js';

/** Events held while PostgreSQL is away; past this, new events are dropped and counted. */
export const MAX_SPOOL = 100_000;
const BATCH = 500;
const FLUSH_MS = 200;
const COLUMNS = [
  'replica',
  'boot',
  'seq',
  'ts',
  'event',
  'session',
  'face',
  'listener',
  'source',
  'source_ip',
  'target',
  'target_host',
  'identity',
  'decision',
  'reason',
  'data',
] as const;

interface Spooled {
  readonly seq: number;
  readonly event: AuditEvent;
}

/** `?` placeholders (query.ts writes them for SQLite) as PostgreSQL's `$n`, numbered from `from`. */
function numbered(sql: string, from = 1): string {
  let n = from;
  return sql.replace(/\?/g, () => `$${n++}`);
}

export class PgAuditStore implements AuditSink, AuditStore {
  readonly file: string;
  /** Per start of this process: with seq, what makes an event unique in the table. */
  private readonly boot = randomBytes(6).toString('hex');
  private seq = 0;
  private spool: Spooled[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private closed = false;
  /** Events dropped while the spool was full. */
  dropped = 0;

  constructor(
    private readonly db: FleetDb,
    private readonly replica: string,
    url: string,
    private readonly log: Logger,
  ) {
    this.file = redactUrl(url);
    // A reconnect sends what waited.
    db.onUp(() => this.schedule(0));
  }

  get spooled(): number {
    return this.spool.length;
  }

  write(event: AuditEvent): void {
    if (this.closed) return;
    if (this.spool.length >= MAX_SPOOL) {
      if (this.dropped++ % 10_000 === 0)
        this.log.error(
          { dropped: this.dropped, spooled: this.spool.length },
          'fleet: the audit spool is full while PostgreSQL is away; dropping events (the JSON lines of audit.log still have them)',
        );
      return;
    }
    this.spool.push({ seq: ++this.seq, event });
    this.schedule(this.spool.length >= BATCH ? 0 : FLUSH_MS);
  }

  private schedule(ms: number): void {
    if (this.timer || this.sending) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.send();
    }, ms);
    this.timer.unref();
  }

  private async send(): Promise<void> {
    if (this.sending || this.spool.length === 0 || !this.db.up) return;
    this.sending = true;
    const batch = this.spool.slice(0, BATCH);
    try {
      const params: unknown[] = [];
      const rows = batch.map(({ seq, event }) => {
        const at = params.length;
        params.push(
          this.replica,
          this.boot,
          seq,
          Date.parse(event.time),
          event.event,
          event.session ?? null,
          event.face,
          event.listener ?? null,
          event.source ?? null,
          event.source ? sourceIp(event.source) : null,
          event.target ?? null,
          event.target ? (targetHost(event.target) ?? null) : null,
          event.identity ?? null,
          decisionOf(event) ?? null,
          event.reason ?? null,
          JSON.stringify(event),
        );
        return `(${COLUMNS.map((_, i) => `$${at + i + 1}${COLUMNS[i] === 'data' ? '::jsonb' : ''}`).join(', ')})`;
      });
      await this.db.query(
        `INSERT INTO gatehouse_events (${COLUMNS.join(', ')}) VALUES ${rows.join(', ')}
         ON CONFLICT (replica, boot, seq) DO NOTHING`,
        params,
      );
      // Only now are they stored: drop exactly those from the spool's head.
      this.spool = this.spool.slice(batch.length);
    } catch {
      // Down (FleetDb marked it and retries) or refused: the batch stays for the next try.
    } finally {
      this.sending = false;
      if (this.spool.length > 0 && this.db.up) this.schedule(this.spool.length >= BATCH ? 0 : FLUSH_MS);
    }
  }

  /** Send what is spooled now (tests, shutdown); resolves when the spool is empty or PostgreSQL is down. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.spool.length > 0 && this.db.up) {
      while (this.sending) await new Promise((r) => setTimeout(r, 10));
      const before = this.spool.length;
      await this.send();
      if (this.spool.length >= before) break;
    }
  }

  setRetention(_retention: AuditRetention): void {
    // The shared table's retention belongs to whoever runs the database (a scheduled DELETE, or
    // partitions): one replica must not prune the others' history on its own settings.
  }

  async query(q: AuditQuery): Promise<StoredEvent[]> {
    await this.flush();
    const w = whereClause(q);
    const r = await this.db.query<{ id: string; replica: string; data: AuditEvent }>(
      `SELECT id, replica, data FROM gatehouse_events ${numbered(w.sql)} ORDER BY id DESC LIMIT $${w.params.length + 1}`,
      [...w.params, q.limit],
    );
    return r.rows.map((row) => ({ ...row.data, id: Number(row.id), replica: row.replica }));
  }

  async count(q: Omit<AuditQuery, 'limit'> = {}): Promise<number> {
    await this.flush();
    const w = whereClause(q);
    const r = await this.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM gatehouse_events ${numbered(w.sql)}`,
      w.params,
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  async summary(since: number, top = 10): Promise<AuditSummary> {
    await this.flush();
    const byFace = (
      await this.db.query<{ face: string; allowed: string; denied: string; other: string }>(
        `SELECT face,
           count(*) FILTER (WHERE decision = 'allowed') AS allowed,
           count(*) FILTER (WHERE decision = 'denied') AS denied,
           count(*) FILTER (WHERE decision IS NULL) AS other
         FROM gatehouse_events WHERE ts >= $1 GROUP BY face ORDER BY face`,
        [since],
      )
    ).rows.map((r) => ({
      face: r.face,
      allowed: Number(r.allowed),
      denied: Number(r.denied),
      other: Number(r.other),
    }));
    const hosts = async (decision: string) =>
      (
        await this.db.query<{ host: string; count: string; reason: string | null }>(
          `SELECT target_host AS host, count(*) AS count, max(reason) AS reason FROM gatehouse_events
           WHERE ts >= $1 AND face = 'egressProxy' AND decision = $2 AND target_host IS NOT NULL
           GROUP BY target_host ORDER BY count DESC, host LIMIT $3`,
          [since, decision, top],
        )
      ).rows.map((r) => ({ host: r.host, count: Number(r.count), reason: r.reason }));
    const egress = byFace.find((f) => f.face === 'egressProxy');
    return {
      since: new Date(since).toISOString(),
      total: byFace.reduce((n, f) => n + f.allowed + f.denied + f.other, 0),
      byFace,
      egress: {
        allowed: egress?.allowed ?? 0,
        denied: egress?.denied ?? 0,
        topAllowed: (await hosts('allowed')).map(({ host, count }) => ({ host, count })),
        topDenied: await hosts('denied'),
      },
    };
  }

  /** Allowed and denied per face, and bytes of closed sessions per listener, in buckets of stepMs. */
  async timeline(q: TimelineQuery): Promise<TimelineRows> {
    await this.flush();
    // ts and the step are bigint: the division truncates, as the SQLite store's does.
    const face = q.face === undefined ? '' : 'AND face = $4';
    const params = [q.stepMs, q.since, q.until, ...(q.face === undefined ? [] : [q.face])];
    const decisions = await this.db.query<{ t: string; face: string; allowed: string; denied: string }>(
      `SELECT (ts / $1::bigint) * $1::bigint AS t, face,
         count(*) FILTER (WHERE decision = 'allowed') AS allowed,
         count(*) FILTER (WHERE decision = 'denied') AS denied
       FROM gatehouse_events WHERE ts >= $2 AND ts < $3 AND decision IS NOT NULL ${face}
       GROUP BY 1, face ORDER BY 1, face`,
      params,
    );
    const bytes = await this.db.query<{
      t: string;
      face: string;
      listener: string;
      from_client: string;
      to_client: string;
    }>(
      `SELECT (ts / $1::bigint) * $1::bigint AS t, face, listener,
         coalesce(sum((data->>'bytesFromClient')::bigint), 0) AS from_client,
         coalesce(sum((data->>'bytesToClient')::bigint), 0) AS to_client
       FROM gatehouse_events
       WHERE ts >= $2 AND ts < $3 AND event = 'closed' AND listener IS NOT NULL ${face}
       GROUP BY 1, face, listener ORDER BY 1, face, listener`,
      params,
    );
    return {
      decisions: decisions.rows.map((r) => ({
        t: Number(r.t),
        face: r.face,
        allowed: Number(r.allowed),
        denied: Number(r.denied),
      })),
      bytes: bytes.rows.map((r) => ({
        t: Number(r.t),
        face: r.face,
        listener: r.listener,
        bytesFromClient: Number(r.from_client),
        bytesToClient: Number(r.to_client),
      })),
    };
  }

  /** Send what is left (when PostgreSQL is up) and stop; what cannot be sent is in audit.log. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

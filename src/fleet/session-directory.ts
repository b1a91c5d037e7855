// Live sessions of every replica as rows, kept by each replica for its own: once a second it
// heartbeats, adds the sessions that started and removes those that ended since the last beat
// (a session shorter than a beat never reaches the table), and every 30 s rewrites its rows with
// fresh byte counts. A replica whose heartbeat is older than EXPIRE_S has its rows expired by
// whichever replica beats next: a replica that died leaves nothing listed.
//
// Terminate on any replica: a session held elsewhere gets a row in gatehouse_terminations and a
// NOTIFY naming its replica; that replica ends it at once (or at its next beat, when notifications
// do not arrive) and removes both rows, which is what the asking replica waits for. While the
// database is away every replica keeps its own sessions and lists only those.
import type { Logger } from 'pino';
import type { ListedSession } from '../runtime/admin-view.js';
import type { FleetDb } from './db.js';

const BEAT_MS = 1000;
const REFRESH_EVERY = 30;
export const EXPIRE_S = 10;
const TERMINATE_WAIT_MS = 2000;

/** What the directory asks of this replica: its own sessions, and ending one of them. */
export interface LocalSessions {
  listSessions(): Promise<ListedSession[]>;
  terminate(id: string): Promise<boolean>;
}

/** A session as it is stored: dates as ISO text. */
type StoredInfo = Omit<ListedSession, 'startedAt'> & { startedAt: string };

function stored(s: ListedSession): StoredInfo {
  return { ...s, startedAt: s.startedAt.toISOString() };
}

export class SessionDirectory {
  private timer: NodeJS.Timeout | undefined;
  private synced = new Set<string>();
  /** After a (re)connect the table is rewritten whole for this replica. */
  private fresh = true;
  private beats = 0;
  private beating = false;
  private stopped = false;

  constructor(
    private readonly db: FleetDb,
    private readonly replica: string,
    private readonly boot: string,
    private readonly local: LocalSessions,
    private readonly log: Logger,
  ) {
    db.onUp(() => {
      this.fresh = true;
      void this.beat();
    });
    db.onNotification((channel, payload) => {
      if (channel === 'gatehouse_terminate' && payload === this.replica) void this.terminations();
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), BEAT_MS);
    this.timer.unref();
    void this.beat();
  }

  private async beat(): Promise<void> {
    if (this.beating || this.stopped || !this.db.up) return;
    this.beating = true;
    try {
      await this.db.query(
        `INSERT INTO gatehouse_replicas (replica, boot, started_at, seen_at, pid)
         VALUES ($1, $2, now(), now(), $3)
         ON CONFLICT (replica) DO UPDATE SET seen_at = now(), boot = $2, pid = $3`,
        [this.replica, this.boot, process.pid],
      );
      await this.syncSessions();
      await this.terminations();
      // Replicas that stopped beating: their sessions are gone with them.
      await this.db.query(
        `WITH gone AS (DELETE FROM gatehouse_replicas WHERE seen_at < now() - make_interval(secs => $1) RETURNING replica)
         DELETE FROM gatehouse_sessions WHERE replica IN (SELECT replica FROM gone)`,
        [EXPIRE_S],
      );
    } catch (err) {
      this.log.debug({ err }, 'fleet: session heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  private async syncSessions(): Promise<void> {
    const list = await this.local.listSessions();
    const now = new Set(list.map((s) => s.id));
    const refresh = this.fresh || ++this.beats % REFRESH_EVERY === 0;
    if (this.fresh) {
      await this.db.query('DELETE FROM gatehouse_sessions WHERE replica = $1', [this.replica]);
      this.synced = new Set();
    }
    const add = refresh ? list : list.filter((s) => !this.synced.has(s.id));
    const gone = [...this.synced].filter((id) => !now.has(id));
    if (add.length > 0) {
      // One statement for all: a jsonb array unnested into rows.
      await this.db.query(
        `INSERT INTO gatehouse_sessions (replica, id, info)
         SELECT $1, s->>'id', s FROM jsonb_array_elements($2::jsonb) AS s
         ON CONFLICT (replica, id) DO UPDATE SET info = EXCLUDED.info`,
        [this.replica, JSON.stringify(add.map(stored))],
      );
    }
    if (gone.length > 0)
      await this.db.query('DELETE FROM gatehouse_sessions WHERE replica = $1 AND id = ANY($2::text[])', [
        this.replica,
        gone,
      ]);
    this.synced = now;
    this.fresh = false;
  }

  /** Terminations asked of this replica by others: end them here, then clear both rows. */
  private async terminations(): Promise<void> {
    if (!this.db.up) return;
    try {
      const r = await this.db.query<{ session: string }>(
        'SELECT session FROM gatehouse_terminations WHERE replica = $1',
        [this.replica],
      );
      for (const { session } of r.rows) {
        const ended = await this.local.terminate(session);
        this.log.info({ session, ended }, 'fleet: session terminated at the request of another replica');
        await this.db.query('DELETE FROM gatehouse_terminations WHERE session = $1', [session]);
        await this.db.query('DELETE FROM gatehouse_sessions WHERE replica = $1 AND id = $2', [
          this.replica,
          session,
        ]);
        this.synced.delete(session);
      }
    } catch (err) {
      this.log.debug({ err }, 'fleet: reading terminations failed');
    }
  }

  /** This replica's sessions, and every live replica's from the table (when it can be read). */
  async list(): Promise<ListedSession[]> {
    const mine = (await this.local.listSessions()).map((s) => ({ ...s, replica: this.replica }));
    if (!this.db.up) return mine;
    try {
      const r = await this.db.query<{ replica: string; info: StoredInfo }>(
        `SELECT s.replica, s.info FROM gatehouse_sessions s JOIN gatehouse_replicas r USING (replica)
         WHERE s.replica <> $1 AND r.seen_at > now() - make_interval(secs => $2)
         ORDER BY s.replica, s.id`,
        [this.replica, EXPIRE_S],
      );
      return [
        ...mine,
        ...r.rows.map((row) => ({
          ...row.info,
          startedAt: new Date(row.info.startedAt),
          replica: row.replica,
        })),
      ];
    } catch {
      return mine;
    }
  }

  /** End a session wherever it runs; false when no replica holds it. */
  async terminate(id: string): Promise<boolean> {
    if (await this.local.terminate(id)) return true;
    if (!this.db.up) return false;
    const r = await this.db.query<{ replica: string }>(
      'SELECT replica FROM gatehouse_sessions WHERE id = $1 AND replica <> $2 LIMIT 1',
      [id, this.replica],
    );
    const owner = r.rows[0]?.replica;
    if (!owner) return false;
    await this.db.query(
      `INSERT INTO gatehouse_terminations (session, replica, requested_by) VALUES ($1, $2, $3)
       ON CONFLICT (session) DO NOTHING`,
      [id, owner, this.replica],
    );
    await this.db.notify('gatehouse_terminate', owner);
    // The owner removes the session's row once it has ended it.
    const deadline = Date.now() + TERMINATE_WAIT_MS;
    while (Date.now() < deadline) {
      const left = await this.db.query('SELECT 1 FROM gatehouse_sessions WHERE replica = $1 AND id = $2', [
        owner,
        id,
      ]);
      if (left.rowCount === 0) return true;
      await new Promise((res) => setTimeout(res, 50));
    }
    return true; // asked; the owner ends it at its next beat
  }

  /** Leave the table: this replica's rows go (its sessions have closed). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (!this.db.up) return;
    await this.db
      .query('DELETE FROM gatehouse_sessions WHERE replica = $1', [this.replica])
      .catch(() => undefined);
    await this.db
      .query('DELETE FROM gatehouse_replicas WHERE replica = $1', [this.replica])
      .catch(() => undefined);
  }
}

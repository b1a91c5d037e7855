// The fleet's PostgreSQL: a small pool for queries and one dedicated connection for LISTEN, with
// reconnection (backoff up to 10 s) and an up/down state the rest of the fleet reads. The database
// is never on a relay's path: while it is away, sessions carry on and new connections are decided
// by the local config and CRL file; what the fleet writes waits in bounded spools.
//
// LISTEN/NOTIFY is a wake-up hint only: notifications are lost across disconnects and not
// delivered inside transactions (jackc/pgx#1121), so every part reconciles after each reconnect
// and on a slow poll. A transaction-pooling PgBouncer delivers no notifications at all
// (pgbouncer#655): a probe NOTIFY on start says so when it never arrives.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { migrate } from './migrations.js';

export type Notified = (channel: string, payload: string) => void;

const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const PROBE_MS = 2000;
export const CHANNELS = ['gatehouse_terminate', 'gatehouse_crl', 'gatehouse_ports'] as const;

/** The URL with its password hidden, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export class FleetDb {
  private pool: pg.Pool;
  private listener: pg.Client | undefined;
  private upNow = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff = BACKOFF_FIRST_MS;
  private readonly upListeners = new Set<() => void>();
  private readonly notified = new Set<Notified>();
  /** Times the connection was lost (a metric). */
  outages = 0;
  /** Whether notifications arrive (false after a failed probe: polling carries everything). */
  notificationsWork = true;

  constructor(
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly log: Logger,
  ) {
    this.pool = this.makePool();
  }

  private makePool(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.url,
      ...(this.password !== undefined ? { password: this.password } : {}),
      max: 4,
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 30_000,
      application_name: 'gatehouse',
    });
    // An idle client that loses its server emits here; without a listener it would crash us.
    pool.on('error', (err) => this.lost(err));
    return pool;
  }

  get up(): boolean {
    return this.upNow;
  }

  /** Called on every transition to up (first connect and each reconnect). */
  onUp(listener: () => void): void {
    this.upListeners.add(listener);
  }

  onNotification(listener: Notified): void {
    this.notified.add(listener);
  }

  /** Connect, migrate, LISTEN; resolves once up or after the first failure (retries go on). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      await migrate(this.pool);
      const client = new pg.Client({
        connectionString: this.url,
        ...(this.password !== undefined ? { password: this.password } : {}),
        connectionTimeoutMillis: 3000,
        application_name: 'gatehouse-listen',
      });
      client.on('error', (err) => this.lost(err));
      client.on('end', () => this.lost(new Error('the LISTEN connection ended')));
      client.on('notification', (n) => {
        for (const l of this.notified) l(n.channel, n.payload ?? '');
      });
      await client.connect();
      for (const c of CHANNELS) await client.query(`LISTEN ${c}`);
      this.listener = client;
      const wasDown = this.outages > 0;
      this.upNow = true;
      this.backoff = BACKOFF_FIRST_MS;
      this.log.info(
        { postgres: redactUrl(this.url) },
        wasDown ? 'fleet: PostgreSQL is back' : 'fleet: PostgreSQL connected',
      );
      void this.probe(client);
      for (const l of this.upListeners) l();
    } catch (err) {
      this.lost(err as Error);
    }
  }

  /** A NOTIFY to ourselves: when it never arrives, LISTEN is broken (transaction pooling). */
  private async probe(client: pg.Client): Promise<void> {
    const nonce = randomBytes(8).toString('hex');
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), PROBE_MS);
      const onN = (n: pg.Notification) => {
        if (n.channel !== 'gatehouse_ports' || n.payload !== `probe:${nonce}`) return;
        clearTimeout(timer);
        client.removeListener('notification', onN);
        resolve(true);
      };
      client.on('notification', onN);
    });
    try {
      await this.pool.query('SELECT pg_notify($1, $2)', ['gatehouse_ports', `probe:${nonce}`]);
    } catch {
      return; // down again: the next connect probes
    }
    this.notificationsWork = await arrived;
    if (!this.notificationsWork)
      this.log.warn(
        'fleet: LISTEN receives no notifications (a PgBouncer in transaction pooling mode?); terminations and revocations are picked up by polling, within seconds instead of at once. Point fleet.postgres at PostgreSQL directly or at a session-pooled PgBouncer',
      );
  }

  private lost(err: Error): void {
    if (this.stopped) return;
    if (this.upNow) {
      this.outages++;
      this.log.error(
        { err: err.message, postgres: redactUrl(this.url) },
        'fleet: PostgreSQL unreachable; sessions carry on, new connections follow the local config and CRL, audit events wait in the spool',
      );
    } else if (this.backoff === BACKOFF_FIRST_MS) {
      this.log.warn(
        { err: err.message, postgres: redactUrl(this.url) },
        'fleet: cannot reach PostgreSQL; retrying',
      );
    }
    this.upNow = false;
    const old = this.listener;
    this.listener = undefined;
    old?.removeAllListeners();
    old?.on('error', () => {});
    void old?.end().catch(() => {});
    if (this.retryTimer) return;
    const wait = this.backoff;
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, wait);
  }

  /** A query on the pool; a failure marks the fleet down (and retries) before it is rethrown. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    if (!this.upNow) throw new Error('fleet: PostgreSQL is down');
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      // A statement PostgreSQL refused (a SQLSTATE: a constraint, bad input) is not an outage;
      // a socket error (ECONNREFUSED…), a connection-class state (08…), a shutdown (57P…) is.
      const code = (err as { code?: string }).code ?? '';
      const sqlstate = /^[0-9A-Z]{5}$/.test(code);
      if (!sqlstate || /^(08|57P|53)/.test(code)) this.lost(err as Error);
      throw err;
    }
  }

  async notify(channel: (typeof CHANNELS)[number], payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const l = this.listener;
    this.listener = undefined;
    l?.removeAllListeners();
    l?.on('error', () => {});
    await l?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }
}

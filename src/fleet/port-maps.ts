// The same cluster port map on every replica: each Redis/Memcached node gets the same public port
// everywhere, so a client that follows a MOVED through the load balancer lands on a replica that
// sends it to the same node. The table gatehouse_node_ports is the fleet's memory of who has which
// port: a replica adopts what it says for the nodes it sees, claims ports for nodes nobody has
// placed yet (first claim wins: the primary key and the unique port refuse the second), and drops
// the rows of nodes gone from its topology. Claims and changes NOTIFY the others, who re-read.
import type { Logger } from 'pino';
import type { SharedPortMaps } from '../cluster/node-ports.js';
import type { FleetDb } from './db.js';

const POLL_MS = 5000;

export class FleetPortMaps implements SharedPortMaps {
  private cache = new Map<string, Map<string, number>>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Told when the table says something new (the host recomputes its maps). */
  onChange: (() => void) | undefined;

  constructor(
    private readonly db: FleetDb,
    private readonly replica: string,
    private readonly log: Logger,
  ) {
    db.onUp(() => this.queue(() => this.refresh()));
    db.onNotification((channel, payload) => {
      if (channel === 'gatehouse_ports' && !payload.startsWith('probe:')) this.queue(() => this.refresh());
    });
  }

  start(): void {
    this.timer = setInterval(() => this.queue(() => this.refresh()), POLL_MS);
    this.timer.unref();
  }

  private queue(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain
      .then(step)
      .catch((err: unknown) => this.log.debug({ err }, 'fleet: port map step failed'));
    return this.chain;
  }

  known(line: string): ReadonlyMap<string, number> | undefined {
    return this.cache.get(line);
  }

  /** Read the table; resolves once read (or failed). */
  load(): Promise<void> {
    return this.queue(() => this.refresh());
  }

  private async refresh(): Promise<void> {
    if (!this.db.up) return;
    const r = await this.db.query<{ line: string; node_id: string; port: number }>(
      'SELECT line, node_id, port FROM gatehouse_node_ports',
    );
    const next = new Map<string, Map<string, number>>();
    for (const row of r.rows) {
      const m = next.get(row.line) ?? new Map<string, number>();
      m.set(row.node_id, row.port);
      next.set(row.line, m);
    }
    const same =
      next.size === this.cache.size &&
      [...next].every(([line, m]) => {
        const old = this.cache.get(line);
        return old !== undefined && old.size === m.size && [...m].every(([id, p]) => old.get(id) === p);
      });
    this.cache = next;
    if (!same) this.onChange?.();
  }

  claim(line: string, byNode: ReadonlyMap<string, number>): void {
    const entries = [...byNode];
    void this.queue(async () => {
      if (!this.db.up) return;
      if (entries.length > 0)
        await this.db.query(
          `INSERT INTO gatehouse_node_ports (line, node_id, port, claimed_by)
           SELECT $1, n, p, $4 FROM unnest($2::text[], $3::int[]) AS t(n, p)
           ON CONFLICT DO NOTHING`,
          [line, entries.map(([id]) => id), entries.map(([, p]) => p), this.replica],
        );
      const gone = await this.db.query(
        'DELETE FROM gatehouse_node_ports WHERE line = $1 AND NOT (node_id = ANY($2::text[]))',
        [line, entries.map(([id]) => id)],
      );
      await this.db.notify('gatehouse_ports', line);
      if ((gone.rowCount ?? 0) > 0)
        this.log.info({ line, removed: gone.rowCount }, 'fleet: ports of nodes gone released');
      await this.refresh();
    });
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return this.chain;
  }
}

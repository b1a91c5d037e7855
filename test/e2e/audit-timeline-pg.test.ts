// The audit timeline on the fleet's PostgreSQL store: the same known events and the same counts as
// the SQLite store (test/helpers/timeline-fixture.ts), on a PostgreSQL of the test's own.
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { FleetDb } from '../../src/fleet/db.js';
import { PgAuditStore } from '../../src/fleet/audit-store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { checkTimeline, TIMELINE_EVENTS } from '../helpers/timeline-fixture.js';

let pg: TestPostgres;
let db: FleetDb;
let store: PgAuditStore;

before(async () => {
  pg = await startPostgres();
  const log = pino({ level: 'silent' });
  db = new FleetDb(pg.url, undefined, log);
  await db.start(); // connects and creates the tables
  store = new PgAuditStore(db, 'r1', pg.url, log);
});

after(async () => {
  await store?.close();
  await db?.stop();
  await pg?.remove();
});

test('PostgreSQL: allowed and denied per face and bytes per listener, per bucket', async () => {
  for (const e of TIMELINE_EVENTS) store.write(e);
  await checkTimeline(store);
});

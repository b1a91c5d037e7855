// The fleet's tables, created on start by whichever replica gets there first: every migration runs
// in one transaction under an advisory lock, so N replicas starting at once apply each step once,
// and each step is idempotent (IF NOT EXISTS) besides. Steps are only ever appended.
import type pg from 'pg';

const LOCK = 0x6761_7465; // "gate"

const STEPS: readonly string[] = [
  // 1: replicas, audit events, live sessions, terminations, CRLs, cluster port maps.
  `CREATE TABLE IF NOT EXISTS gatehouse_replicas (
     replica text PRIMARY KEY,
     boot text NOT NULL,
     started_at timestamptz NOT NULL,
     seen_at timestamptz NOT NULL,
     pid integer
   );
   CREATE TABLE IF NOT EXISTS gatehouse_events (
     id bigserial PRIMARY KEY,
     replica text NOT NULL,
     boot text NOT NULL,
     seq bigint NOT NULL,
     ts bigint NOT NULL,
     event text NOT NULL,
     session text,
     face text NOT NULL,
     listener text,
     source text,
     source_ip text,
     target text,
     target_host text,
     identity text,
     decision text,
     reason text,
     data jsonb NOT NULL,
     UNIQUE (replica, boot, seq)
   );
   CREATE INDEX IF NOT EXISTS gatehouse_events_ts ON gatehouse_events (ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_face_ts ON gatehouse_events (face, ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_identity ON gatehouse_events (identity, ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_source_ip ON gatehouse_events (source_ip, ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_decision ON gatehouse_events (decision, ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_target_host ON gatehouse_events (target_host, ts);
   CREATE INDEX IF NOT EXISTS gatehouse_events_session ON gatehouse_events (session);
   CREATE TABLE IF NOT EXISTS gatehouse_sessions (
     replica text NOT NULL,
     id text NOT NULL,
     info jsonb NOT NULL,
     PRIMARY KEY (replica, id)
   );
   CREATE INDEX IF NOT EXISTS gatehouse_sessions_id ON gatehouse_sessions (id);
   CREATE TABLE IF NOT EXISTS gatehouse_terminations (
     session text PRIMARY KEY,
     replica text NOT NULL,
     requested_by text NOT NULL,
     requested_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE IF NOT EXISTS gatehouse_crls (
     issuer text NOT NULL,
     crl_number numeric NOT NULL,
     pem text NOT NULL,
     published_by text NOT NULL,
     published_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (issuer, crl_number)
   );
   CREATE TABLE IF NOT EXISTS gatehouse_node_ports (
     line text NOT NULL,
     node_id text NOT NULL,
     port integer NOT NULL,
     claimed_by text NOT NULL,
     PRIMARY KEY (line, node_id),
     UNIQUE (line, port)
   );`,
];

export async function migrate(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS gatehouse_schema (version integer PRIMARY KEY)');
    const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM gatehouse_schema');
    const at = r.rows[0]?.v ?? 0;
    for (let i = at; i < STEPS.length; i++) {
      await client.query(STEPS[i]!);
      await client.query('INSERT INTO gatehouse_schema (version) VALUES ($1)', [i + 1]);
    }
    await client.query('COMMIT');
    return STEPS.length;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

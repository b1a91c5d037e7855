// A PostgreSQL of the test's own, from Debian's packages: initdb in a temp dir as the postgres user,
// its own port on loopback, never the system service. stop()/start() stage an outage; remove()
// stops it and deletes the directory.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, run, stopProcess, track, waitForPort } from './procs.js';

export interface TestPostgres {
  readonly url: string;
  readonly port: number;
  /** Stop the server (a fast shutdown: clients are disconnected). */
  stop(): Promise<void>;
  /** Start it again on the same port and data. */
  start(): Promise<void>;
  /** Run SQL through psql; resolves with its stdout. */
  sql(text: string): Promise<string>;
  remove(): Promise<void>;
}

/** Debian keeps each major version's binaries in /usr/lib/postgresql/N/bin. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('no PostgreSQL server here: apt-get install -y postgresql (scripts/install-test-deps.sh)');
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  await run('chown', ['-R', 'postgres:postgres', dir]);
  // As the postgres user (PostgreSQL refuses root), through spawn's uid/gid rather than a wrapper
  // such as runuser, so signals reach the server itself.
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  const init = await run(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    { uid, gid, cwd: dir },
  );
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = track(
      spawn(
        path.join(bin, 'postgres'),
        [
          '-D',
          data,
          '-p',
          String(port),
          '-k',
          sock,
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          'fsync=off',
          '-c',
          'max_connections=200',
        ],
        { stdio: 'ignore', uid, gid, cwd: dir },
      ),
    );
    await waitForPort(port, '127.0.0.1', 20_000);
    // Accepting TCP is not accepting queries while it recovers: wait for a query to work.
    for (let i = 0; i < 100; i++) {
      const r = await run('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-Atc',
        'SELECT 1',
      ]);
      if (r.stdout.trim() === '1') return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('postgres did not answer queries');
  };
  const stop = async () => {
    // SIGINT: PostgreSQL's fast shutdown (clients are disconnected, no waiting for them).
    if (proc) await stopProcess(proc, 'SIGINT');
    proc = undefined;
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    async sql(text) {
      const r = await run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-Atc', text]);
      if (r.code !== 0) throw new Error(`psql: ${r.stderr}`);
      return r.stdout;
    },
    async remove() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The package as users install it: `npm pack`, then `npm install -g --prefix EMPTY TARBALL` from
// the local npm cache, then the installed `gatehouse` run from a directory outside the repository:
// --version, the console's files, the admin API and a port forward to a real redis-server.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { freePort, run, startRedis, stopProcess, track } from '../helpers/procs.js';
import { ROOT } from '../helpers/gatehouse.js';
import { tempDir } from '../helpers/temp.js';

const work = tempDir({ after }, 'gh-package-');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};

/**
 * better-sqlite3's install script fetches a prebuilt binary from GitHub, else compiles SQLite
 * (minutes of CPU). The binary already built for this Node in the repository's node_modules is
 * offered to it as a local prebuild (prebuild-install's npm_config_<pkg>_local_prebuilds), so
 * the install needs no network and no compiler.
 */
async function localPrebuilds(): Promise<string> {
  const dir = path.join(work, 'prebuilds');
  fs.mkdirSync(dir);
  const mod = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(fs.readFileSync(path.join(mod, 'package.json'), 'utf8')) as {
    version: string;
  };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const r = await run('tar', ['-czf', path.join(dir, name), '-C', mod, 'build/Release/better_sqlite3.node']);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

test('npm pack carries the console, and the installed gatehouse serves it, the API and a forward', async (t) => {
  // dist/ is built by test/run.sh; --ignore-scripts keeps `prepare` from rebuilding it under
  // other tests' feet.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], {
    cwd: ROOT,
  });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const f of [
    'bin/gatehouse.js',
    'dist/cli/main.js',
    'dist/workers/worker-main.js',
    'dist/admin/console/index.html',
    'dist/admin/console/app.js',
    'dist/admin/console/style.css',
    'deploy/systemd/gatehouse.service',
    'examples/gatehouse.yaml',
    'package.json',
  ])
    assert.ok(files.includes(f), `${f} is not in the package`);
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources are not shipped');

  const prefix = path.join(work, 'prefix');
  const tarball = path.join(work, info!.filename);
  const installed = await run(
    'npm',
    ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'],
    {
      cwd: work,
      env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: await localPrebuilds() },
    },
  );
  assert.equal(installed.code, 0, installed.stderr);
  const bin = path.join(prefix, 'bin', 'gatehouse');
  const home = fs.realpathSync(path.join(prefix, 'lib', 'node_modules', pkg.name));
  assert.ok(!home.startsWith(ROOT), `installed into ${home}, not a link to the repository`);

  const version = await run(bin, ['--version'], { cwd: work });
  assert.equal(version.stdout.trim(), pkg.version);

  const redis = await startRedis();
  t.after(() => redis.stop());
  const fwd = await freePort();
  const adminPort = await freePort();
  const site = path.join(work, 'site');
  fs.mkdirSync(site);
  fs.writeFileSync(
    path.join(site, 'gatehouse.yaml'),
    `workers: 1
securityGroups:
  local:
    ingress:
      - { ports: '${fwd}', source: '127.0.0.0/8' }
portForwards:
  local:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: '${fwd}', target: '127.0.0.1:${redis.port}' }
admin:
  listen: '127.0.0.1:${adminPort}'
`,
  );
  const daemon = track(
    spawn(bin, ['serve', '-c', 'gatehouse.yaml'], { cwd: site, stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  t.after(() => stopProcess(daemon));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the installed daemon did not get ready')), 20_000);
    readline.createInterface({ input: daemon.stderr! }).on('line', (text) => {
      const l = JSON.parse(text) as Record<string, unknown>;
      if (l.msg !== 'ready') return;
      clearTimeout(timer);
      resolve(l);
    });
    daemon.once('exit', (code) => reject(new Error(`the installed daemon exited with ${code}`)));
  });
  assert.equal(ready.version, pkg.version);
  assert.equal(ready.console, `http://127.0.0.1:${adminPort}/`);

  const consoleUrl = String(ready.console);
  for (const [p, type] of [
    ['', 'text/html'],
    ['app.js', 'text/javascript'],
    ['style.css', 'text/css'],
  ] as const) {
    const res = await fetch(`${consoleUrl}${p}`);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get('content-type') ?? '', new RegExp(type));
    assert.equal(
      await res.text(),
      fs.readFileSync(path.join(home, 'dist', 'admin', 'console', p || 'index.html'), 'utf8'),
    );
  }
  const token = fs.readFileSync(path.join(site, 'gatehouse-admin.token'), 'utf8').trim();
  const status = (await (
    await fetch(`${consoleUrl}api/status`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as { version: string };
  assert.equal(status.version, pkg.version);

  const pong = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(fwd), 'PING']);
  assert.equal(pong.stdout.trim(), 'PONG');
  // The installed CLI finds the daemon through ./gatehouse.yaml, as a user in that directory would.
  const sessions = await run(bin, ['status', '--json'], { cwd: site });
  assert.equal(sessions.code, 0, sessions.stderr);
  assert.equal((JSON.parse(sessions.stdout) as { version: string }).version, pkg.version);
});

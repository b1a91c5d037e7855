// Runs the real daemon (`gatehouse serve`, the built CLI) on a config a test writes, and exposes
// its audit lines (stdout) and logs (stderr) as events a test can wait for.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { run, stopProcess, track } from './procs.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'gatehouse.js');

type Line = Record<string, unknown>;

export interface Gatehouse {
  readonly proc: ChildProcess;
  /** The config's directory and the daemon's cwd: the caller's, or one removed by stop(). */
  readonly dir: string;
  readonly configPath: string;
  readonly audit: Line[];
  readonly logs: Line[];
  /** Resolves with the first audit line (past or future) that matches. */
  waitForAudit(match: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
  waitForLog(match: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
  writeConfig(text: string): void;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function waiter(lines: Line[], emitter: EventEmitter, what: string) {
  return (match: (l: Line) => boolean, timeoutMs = 10_000) =>
    new Promise<Line>((resolve, reject) => {
      const hit = lines.find(match);
      if (hit) return resolve(hit);
      const onLine = (l: Line) => {
        if (!match(l)) return;
        clearTimeout(timer);
        emitter.removeListener('line', onLine);
        resolve(l);
      };
      const timer = setTimeout(() => {
        emitter.removeListener('line', onLine);
        reject(
          new Error(
            `no matching ${what} line within ${timeoutMs} ms; have:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
          ),
        );
      }, timeoutMs);
      emitter.on('line', onLine);
    });
}

function collect(stream: NodeJS.ReadableStream, into: Line[], raw: string[]): EventEmitter {
  const em = new EventEmitter();
  readline.createInterface({ input: stream }).on('line', (text) => {
    raw.push(text);
    let l: Line;
    try {
      l = JSON.parse(text) as Line;
    } catch {
      return; // not JSON: human text, kept in raw
    }
    into.push(l);
    em.emit('line', l);
  });
  return em;
}

/**
 * Tests run the daemon with `workers: 1` unless GATEHOUSE_TEST_WORKERS says otherwise (test/run.sh
 * runs the face suites a second time with 2), and unless the config names its own `workers`.
 */
export function withWorkers(config: string): string {
  if (/^workers:/m.test(config)) return config;
  // Appended, so the lines a test expects in FILE:LINE answers do not move.
  return `${config.replace(/\n*$/, '\n')}workers: ${process.env.GATEHOUSE_TEST_WORKERS ?? '1'}\n`;
}

export async function startGatehouse(
  config: string,
  opts: { netns?: string; dir?: string; env?: Record<string, string>; nofile?: number } = {},
): Promise<Gatehouse> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gh-test-'));
  const configPath = path.join(dir, 'gatehouse.yaml');
  fs.writeFileSync(configPath, withWorkers(config));
  const args = [CLI, 'serve', '-c', configPath];
  const node = opts.nofile ? ['prlimit', `--nofile=${opts.nofile}`, process.execPath] : [process.execPath];
  const [cmd, ...argv] = opts.netns
    ? ['ip', 'netns', 'exec', opts.netns, ...node, ...args]
    : [...node, ...args];
  const proc = track(
    spawn(cmd!, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    }),
  );
  const stop = async (signal?: NodeJS.Signals) => {
    await stopProcess(proc, signal);
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  const audit: Line[] = [];
  const logs: Line[] = [];
  const rawErr: string[] = [];
  const auditEm = collect(proc.stdout!, audit, []);
  const logEm = collect(proc.stderr!, logs, rawErr);
  const gh: Gatehouse = {
    proc,
    dir,
    configPath,
    audit,
    logs,
    waitForAudit: waiter(audit, auditEm, 'audit'),
    waitForLog: waiter(logs, logEm, 'log'),
    writeConfig(text) {
      // Replace by rename, as editors and ConfigMap updates do.
      const tmp = `${configPath}.tmp`;
      fs.writeFileSync(tmp, withWorkers(text));
      fs.renameSync(tmp, configPath);
    },
    stop,
  };
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`gatehouse exited with ${code} before ready:\n${rawErr.join('\n')}`)),
    ),
  );
  exited.catch(() => {});
  try {
    await Promise.race([gh.waitForLog((l) => l.msg === 'ready', 15_000), exited]);
  } catch (err) {
    await stop('SIGKILL'); // the caller never gets a handle to stop it with
    throw err;
  }
  return gh;
}

/** `gatehouse client-config ENDPOINT --client NAME` against a running daemon's config, into `out`. */
export async function clientConfig(
  gh: Pick<Gatehouse, 'configPath'>,
  endpoint: string,
  client: string,
  out: string,
) {
  const r = await run(process.execPath, [
    CLI,
    'client-config',
    endpoint,
    '--client',
    client,
    '-c',
    gh.configPath,
    '-o',
    out,
  ]);
  return { ...r, out };
}

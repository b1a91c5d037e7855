// Real servers for tests: redis-server, memcached, and small helpers to find ports and wait for them.
import { spawn, execFile, type ChildProcess, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

/** A port the OS says is free now (bind 0, read it back, release). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Resolve once a TCP connect to host:port succeeds, retrying on refusal until the deadline. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface Server {
  readonly port: number;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

function wrap(cmd: string, args: string[], netns?: string): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

export async function startRedis(
  opts: { port?: number; host?: string; netns?: string; extra?: string[] } = {},
): Promise<Server> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const [cmd, args] = wrap(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      ...(opts.extra ?? []),
    ],
    opts.netns,
  );
  const proc = track(spawn(cmd, args, { stdio: 'ignore' }));
  if (!opts.netns) {
    await waitForPort(port, host);
    // The port was free when chosen, not necessarily when redis bound it: make sure what answers
    // there is this redis (a CI run once met another server on a port chosen for a new node).
    const info = await run('redis-cli', ['-h', host, '-p', String(port), 'INFO', 'server']);
    if (!info.stdout.includes(`process_id:${proc.pid}\r`)) {
      await stopProcess(proc);
      throw new Error(`redis-server on ${host}:${port} did not start: something else answers there`);
    }
  }
  return { port, proc, stop: () => stopProcess(proc) };
}

export async function startMemcached(
  opts: { port?: number; host?: string; netns?: string } = {},
): Promise<Server> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const [cmd, args] = wrap(
    'memcached',
    ['-u', 'root', '-l', host, '-p', String(port), '-U', '0', '-m', '64'],
    opts.netns,
  );
  const proc = track(spawn(cmd, args, { stdio: 'ignore' }));
  if (!opts.netns) {
    await waitForPort(port, host);
    // As for redis: what answers on the chosen port must be this memcached (its `stats` pid).
    const stats = await memcachedStats(host, port);
    if (!stats.includes(`STAT pid ${proc.pid}\r\n`)) {
      await stopProcess(proc);
      throw new Error(`memcached on ${host}:${port} did not start: something else answers there`);
    }
  }
  return { port, proc, stop: () => stopProcess(proc) };
}

/** The raw reply to memcached's `stats` (up to its END line). */
async function memcachedStats(host: string, port: number): Promise<string> {
  const s = net.connect({ host, port });
  s.setEncoding('latin1');
  let reply = '';
  try {
    await once(s, 'connect');
    s.write('stats\r\n');
    for await (const chunk of s) {
      reply += chunk as string;
      if (reply.endsWith('END\r\n') || reply.includes('ERROR')) break;
    }
  } finally {
    s.destroy();
  }
  return reply;
}

export async function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { input?: string; netns?: string } = {},
) {
  const [c, a] = wrap(cmd, args, opts.netns);
  const child = track(spawn(c, a, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on('error', () => {}); // a child that exits before reading its input
  child.stdin!.end(opts.input ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * A run of n consecutive free ports, for listeners that take a range. Drawn below Linux's
 * ephemeral range (32768+), where outgoing connections would otherwise take ports from under us.
 */
export async function freePortRange(n: number, host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const base = 10000 + Math.floor(Math.random() * (32000 - 10000 - n));
    const free = await Promise.all(Array.from({ length: n }, (_, i) => portIsFree(base + i, host)));
    if (free.every(Boolean)) return base;
  }
}

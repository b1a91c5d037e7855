// What a face leaves behind, measured in-process: live handles, requests and timers by type, the
// sockets that were never garbage collected, listener counts, and any named figure a test adds
// (session-registry entries, bound listeners). A leak test takes a baseline, runs sessions, waits
// with a bounded poll (waitUntil) for things to settle and asserts the counts are back
// (assertBackToBaseline), with a diff that names what is left over.
//
// Two views of resources:
// - `resources`: async_hooks sees every handle and timer from its creation to its destruction,
//   unref'd ones included (the idle sweeps, the CRL poll and the access face's tick are unref'd,
//   and process.getActiveResourcesInfo() does not list those). A TLSWRAP is destroyed only when
//   its socket is garbage collected, so this view also catches TLS sockets kept reachable.
// - `active`: process.getActiveResourcesInfo(), what keeps the event loop alive
//   (TCPSocketWrap, TCPServerWrap, Timeout, …), as Node itself reports it.
import { createHook } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { once, type EventEmitter } from 'node:events';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { stopProcess, track } from './procs.js';

export type Counts = Record<string, number>;
/** Figures a test adds to a measurement (may ask a server). */
export type Extra = () => Counts | Promise<Counts>;

export interface Measurement {
  /** Live async resources by async_hooks type (TCPWRAP, TLSWRAP, TCPSERVERWRAP, Timeout, …). */
  readonly resources: Counts;
  /** process.getActiveResourcesInfo() by type (TCPSocketWrap, TCPServerWrap, Timeout, …). */
  readonly active: Counts;
  /** Sockets (accepted or dialed in this process) not garbage collected yet. */
  readonly retainedSockets: number;
  /** Named figures the test adds: session-registry entries, bound listeners, listener counts. */
  readonly extra: Counts;
}

/**
 * Per-tick bookkeeping, not resources: promises, nextTick and setImmediate callbacks, and the HTTP
 * parsers Node keeps in a free list for reuse (a bounded cache that grows with concurrency).
 */
const NOT_COUNTED = new Set([
  'PROMISE',
  'TickObject',
  'Immediate',
  'Microtask',
  'HTTPINCOMINGMESSAGE',
  'HTTPCLIENTREQUEST',
]);

const live = new Map<number, string>();
let hookEnabled = false;

let seenSockets = 0;
let collectedSockets = 0;
const collected = new FinalizationRegistry<void>(() => void collectedSockets++);
const seen = new WeakSet<object>();
/** Accepted sockets, weakly: for listener checks on the server side of a connection. */
const accepted: WeakRef<net.Socket>[] = [];
/** The servers that accepted them (long-lived; held strongly). */
const servers = new Set<net.Server>();

function onSocket(message: unknown, name: string | symbol): void {
  const socket = (message as { socket: net.Socket }).socket;
  if (seen.has(socket)) return;
  seen.add(socket);
  seenSockets++;
  collected.register(socket);
  if (name !== 'net.server.socket') return;
  accepted.push(new WeakRef(socket));
  const server = (socket as net.Socket & { server?: net.Server }).server;
  if (server) servers.add(server);
}

/**
 * Start counting. Call at the top of the test file, before anything a baseline should include is
 * created: resources made before this are not seen (neither their creation nor their end).
 */
export function trackResources(): void {
  if (hookEnabled) return;
  hookEnabled = true;
  createHook({
    init(asyncId, type) {
      if (!NOT_COUNTED.has(type)) live.set(asyncId, type);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  diagnostics.subscribe('net.server.socket', onSocket);
  diagnostics.subscribe('net.client.socket', onSocket);
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function tally(types: Iterable<string>): Counts {
  const out: Counts = {};
  for (const t of types) out[t] = (out[t] ?? 0) + 1;
  return out;
}

/** The counts now, as they are (see measure() for counts after pending closes have run). */
export function resourceCounts(extra: Counts = {}): Measurement {
  return {
    resources: tally(live.values()),
    active: tally(process.getActiveResourcesInfo()),
    retainedSockets: seenSockets - collectedSockets,
    extra: { ...extra },
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Counts after the garbage collector and a few event-loop turns: destroy hooks and finalizers run
 * asynchronously, so a socket closed just now is counted as gone only after this.
 */
export async function measure(extra: Extra = () => ({})): Promise<Measurement> {
  // Extra figures first: one may ask a server over a socket, which then has to be gone too.
  const figures = await extra();
  for (let i = 0; i < 3; i++) {
    gc();
    await turn();
    await turn();
  }
  return resourceCounts(figures);
}

/** listenerCount per event name ("error": 1, "close": 2, …), prefixed for a readable diff. */
export function listenerCounts(emitter: EventEmitter, prefix = ''): Counts {
  const out: Counts = {};
  for (const name of emitter.eventNames()) out[`${prefix}${String(name)}`] = emitter.listenerCount(name);
  return out;
}

/** Server-side sockets accepted since trackResources() that are still reachable and match. */
export function acceptedSockets(match: (s: net.Socket) => boolean = () => true): net.Socket[] {
  const out: net.Socket[] = [];
  for (const ref of accepted) {
    const s = ref.deref();
    if (s && match(s)) out.push(s);
  }
  return out;
}

/** Servers in this process that accepted a connection since trackResources(), that match. */
export function acceptingServers(match: (s: net.Server) => boolean = () => true): net.Server[] {
  return [...servers].filter(match);
}

/** Ask a server over a fresh socket: send `request`, read until `complete(reply)`. */
function ask(port: number, request: string, complete: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    s.on('connect', () => s.write(request));
    s.on('data', (d: Buffer) => {
      reply += d.toString();
      if (complete(reply)) {
        s.destroy();
        resolve(reply);
      }
    });
    s.on('error', reject);
  });
}

/** redis-server's own count of its client connections (this question's connection included). */
export async function redisClients(port: number): Promise<number> {
  const reply = await ask(port, 'INFO clients\r\n', (r) => /connected_clients:\d+\r\n/.test(r));
  return Number(/connected_clients:(\d+)/.exec(reply)![1]);
}

/** memcached's own count of its open connections (this question's connection included). */
export async function memcachedConnections(port: number): Promise<number> {
  const reply = await ask(port, 'stats\r\n', (r) => r.endsWith('END\r\n'));
  return Number(/STAT curr_connections (\d+)/.exec(reply)![1]);
}

/** Which figures of a measurement to compare, and how many of each may be left over. */
export interface Allowance {
  /** Extra items allowed per key ("resources.TCPWRAP": 2); default none. */
  readonly [key: string]: number;
}

function flatten(m: Measurement): Counts {
  const out: Counts = {};
  for (const [k, v] of Object.entries(m.resources)) out[`resources.${k}`] = v;
  for (const [k, v] of Object.entries(m.active)) out[`active.${k}`] = v;
  out.retainedSockets = m.retainedSockets;
  for (const [k, v] of Object.entries(m.extra)) out[`extra.${k}`] = v;
  return out;
}

/**
 * What grew: one line per figure that is above baseline plus allowance ("resources.TCPWRAP: 12 →
 * 14 (+2)"). Figures below baseline are not leaks (something of the baseline ended since) and are
 * left out. `only` keeps the figures whose key starts with one of its prefixes.
 */
export function leftOver(
  before: Measurement,
  after: Measurement,
  allowance: Allowance = {},
  only?: readonly string[],
): string[] {
  const b = flatten(before);
  const a = flatten(after);
  const lines: string[] = [];
  for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
    if (only && !only.some((p) => key.startsWith(p))) continue;
    const was = b[key] ?? 0;
    const now = a[key] ?? 0;
    const allowed = allowance[key] ?? 0;
    if (now > was + allowed)
      lines.push(`${key}: ${was} → ${now} (+${now - was}${allowed ? `, ${allowed} allowed` : ''})`);
  }
  return lines;
}

/** Throws, with the figures that grew and both measurements, unless nothing grew. */
export function assertBackToBaseline(
  before: Measurement,
  after: Measurement,
  allowance: Allowance = {},
  opts: { what?: string; only?: readonly string[] } = {},
): void {
  const lines = leftOver(before, after, allowance, opts.only);
  if (lines.length === 0) return;
  throw new Error(
    `${opts.what ?? 'resources'} not back to baseline:\n  ${lines.join('\n  ')}\n` +
      `baseline: ${JSON.stringify(before)}\nnow:      ${JSON.stringify(after)}`,
  );
}

/**
 * Probe until `ok` holds or `timeoutMs` has passed; resolves with the last value either way, for
 * the caller to assert on (so a failure shows what was seen, not just "timed out").
 */
export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** Wait (bounded) until nothing grew since `before`, then assert it. */
export async function settlesToBaseline(
  before: Measurement,
  extra: Extra,
  opts: { timeoutMs: number; allowance?: () => Allowance; what?: string; only?: readonly string[] },
): Promise<Measurement> {
  let allowance: Allowance = {};
  const after = await waitUntil(
    async () => {
      const m = await measure(extra);
      allowance = opts.allowance?.() ?? {};
      return m;
    },
    (m) => leftOver(before, m, allowance, opts.only).length === 0,
    { timeoutMs: opts.timeoutMs, intervalMs: 100 },
  );
  assertBackToBaseline(before, after, allowance, {
    ...(opts.what ? { what: opts.what } : {}),
    ...(opts.only ? { only: opts.only } : {}),
  });
  return after;
}

/** Collects MaxListenersExceededWarning (Node's own sign of a listener leak on any emitter). */
export function watchListenerWarnings(): { readonly warnings: string[]; stop(): void } {
  const warnings: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'MaxListenersExceededWarning') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  return { warnings, stop: () => process.removeListener('warning', onWarning) };
}

/** A local TCP listener that never accepts, its queue full: a dial to it can only time out. */
export interface Unaccepting {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A listener in a child process (python) with a backlog of zero, filled by a few connections made
 * here: later SYNs are dropped, so a dial to it hangs until the dialer's own timeout.
 */
export async function startUnaccepting(): Promise<Unaccepting> {
  const child = track(
    spawn(
      'python3',
      [
        '-c',
        'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  const fillers: net.Socket[] = [];
  const close = async () => {
    for (const s of fillers) s.destroy();
    await stopProcess(child);
  };
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('error', () => {});
      fillers.push(s);
    }
    return { port, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Resolves when `e` emits 'close' (events.once would reject if an 'error' came first). */
export function closeOf(e: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => e.once('close', () => resolve()));
}

/**
 * A client session's deadline: unless `done` settles within `ms`, `destroy` runs. Returns whether
 * it had to (a session that did not end by itself is a leak of its own kind).
 */
export function hangGuard(done: Promise<unknown>, ms: number, destroy: () => void): () => boolean {
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    destroy();
  }, ms);
  void done.then(() => clearTimeout(timer));
  return () => hung;
}

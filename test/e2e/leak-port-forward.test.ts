// Leaks of the port forward face, in-process (the runtime, as the daemon runs it): 240 sessions to
// real servers (redis-server, memcached, a node server that hangs up), concurrent in waves, ended by
// the client (FIN or reset, or gone before the dial settled), by the server, refused by a security
// group, failing to dial (refused, timed out). Once they have ended, the face holds what it held
// before they started; once the runtime is shut down, the process holds what it held before it
// started: handles, sockets, timers, session-registry entries, listeners, and the servers' own
// connection counts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { auditChannel, type AuditEvent } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import { Runtime } from '../../src/runtime/runtime.js';
import {
  acceptingServers,
  listenerCounts,
  measure,
  memcachedConnections,
  redisClients,
  settlesToBaseline,
  trackResources,
  waitUntil,
  watchListenerWarnings,
  type Counts,
} from '../helpers/leaks.js';
import { freePort, startMemcached, startRedis, type Server } from '../helpers/procs.js';

trackResources();

const WAVE = 24;
const CONNECT_TIMEOUT_MS = 300;

let redis: Server;
let memcached: Server;
/** Answers the first line with "bye" and hangs up (FIN): a target that ends the session. */
let hangup: net.Server;
let hangupPort: number;
let deadPort: number;
/** A listener that never accepts, its queue full: a dial to it can only time out. */
let stuck: ChildProcess;
let stuckPort: number;
const stuckFillers: net.Socket[] = [];
const ports = { redis: 0, memcached: 0, hangup: 0, dead: 0, stuck: 0 };
const events: AuditEvent[] = [];
const onAudit = (e: unknown) => void events.push(e as AuditEvent);

before(async () => {
  redis = await startRedis();
  memcached = await startMemcached();
  hangup = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('bye\r\n'));
  });
  hangup.listen(0, '127.0.0.1');
  await once(hangup, 'listening');
  hangupPort = (hangup.address() as net.AddressInfo).port;
  deadPort = await freePort();
  stuck = spawn(
    'python3',
    [
      '-c',
      'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(stuck.stdout!, 'data')) as [Buffer];
  stuckPort = Number(line.toString().trim());
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port: stuckPort, host: '127.0.0.1' });
    s.on('error', () => {});
    stuckFillers.push(s);
  }
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  auditChannel.subscribe(onAudit);
});

after(async () => {
  auditChannel.unsubscribe(onAudit);
  for (const s of stuckFillers) s.destroy();
  stuck?.kill();
  hangup?.close();
  await redis?.stop();
  await memcached?.stop();
});

function config(): string {
  return `securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.1/32" }
portForwards:
  main:
    address: 127.0.0.1
    securityGroups: [local]
    connectTimeout: ${CONNECT_TIMEOUT_MS}ms
    forwards:
      - { listen: "${ports.redis}", target: "127.0.0.1:${redis.port}" }
      - { listen: "${ports.memcached}", target: "127.0.0.1:${memcached.port}" }
      - { listen: "${ports.hangup}", target: "127.0.0.1:${hangupPort}" }
      - { listen: "${ports.dead}", target: "127.0.0.1:${deadPort}" }
      - { listen: "${ports.stuck}", target: "127.0.0.1:${stuckPort}" }
admin:
  enabled: false
`;
}

async function startRuntime(): Promise<Runtime> {
  const rt = new Runtime(pino({ level: 'silent' }));
  const report = await rt.apply(parseConfig(config(), path.join(process.cwd(), 'gatehouse.yaml'), '/'));
  assert.deepEqual(report.failed, []);
  return rt;
}

interface Outcome {
  readonly kind: string;
  /** What the client read before its socket closed. */
  readonly read: string;
  /** The client gave up on a session that did not end (a leak of its own kind). */
  readonly hung: boolean;
}

/** One client session; resolves once the client socket has closed (5 s at most). */
function session(kind: string, port: number, script: (s: net.Socket) => void, localAddress?: string) {
  return new Promise<Outcome>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    let read = '';
    let hung = false;
    s.on('error', () => {});
    s.on('data', (d: Buffer) => (read += d.toString()));
    s.setTimeout(5000, () => {
      hung = true;
      s.destroy();
    });
    s.once('connect', () => script(s));
    s.once('close', () => resolve({ kind, read, hung }));
  });
}

/** Write `request`, and once `reply` has been read, run `then`. */
function exchange(request: string, reply: string, then: (s: net.Socket) => void) {
  return (s: net.Socket) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes(reply)) then(s);
    });
    s.write(request);
  };
}

/** The kinds of session, in turn. `expect` is what the client must have read. */
const KINDS: readonly { kind: string; expect: RegExp; run: () => Promise<Outcome> }[] = [
  {
    kind: 'redis, client ends',
    expect: /^\+PONG\r\n$/,
    run: () =>
      session(
        'redis, client ends',
        ports.redis,
        exchange('PING\r\n', '+PONG', (s) => s.end()),
      ),
  },
  {
    kind: 'redis, client resets',
    expect: /^\+PONG\r\n$/,
    run: () =>
      session(
        'redis, client resets',
        ports.redis,
        exchange('PING\r\n', '+PONG', (s) => s.resetAndDestroy()),
      ),
  },
  {
    kind: 'redis, server closes (QUIT)',
    expect: /^\+OK\r\n$/,
    run: () => session('redis, server closes (QUIT)', ports.redis, (s) => s.write('QUIT\r\n')),
  },
  {
    kind: 'memcached, client ends',
    expect: /^VERSION /,
    run: () =>
      session(
        'memcached, client ends',
        ports.memcached,
        exchange('version\r\n', '\r\n', (s) => s.end()),
      ),
  },
  {
    kind: 'memcached, server closes (quit)',
    expect: /^$/,
    run: () => session('memcached, server closes (quit)', ports.memcached, (s) => s.write('quit\r\n')),
  },
  {
    kind: 'node target hangs up',
    expect: /^bye\r\n$/,
    run: () => session('node target hangs up', ports.hangup, (s) => s.write('hello\r\n')),
  },
  {
    kind: 'refused by the security group',
    expect: /^$/,
    run: () => session('refused by the security group', ports.redis, (s) => s.write('PING\r\n'), '127.0.0.2'),
  },
  {
    kind: 'dial refused',
    expect: /^$/,
    run: () => session('dial refused', ports.dead, (s) => s.write('PING\r\n')),
  },
  {
    kind: 'client gone before the dial settles',
    expect: /^$/,
    run: () => session('client gone before the dial settles', ports.redis, (s) => s.destroy()),
  },
  {
    kind: 'dial times out',
    expect: /^$/,
    run: () => session('dial times out', ports.stuck, (s) => s.write('PING\r\n')),
  },
  {
    kind: 'client ends while the dial hangs',
    expect: /^$/,
    run: () => session('client ends while the dial hangs', ports.stuck, (s) => s.end('PING\r\n')),
  },
  {
    kind: 'client resets while the dial hangs',
    expect: /^$/,
    run: () => session('client resets while the dial hangs', ports.stuck, (s) => s.resetAndDestroy()),
  },
];

/** 20 of each kind (240), in waves of WAVE concurrent sessions. */
const SESSIONS = 20 * KINDS.length;

async function runSessions(n: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let start = 0; start < n; start += WAVE) {
    const wave = Array.from({ length: Math.min(WAVE, n - start) }, (_, j) =>
      KINDS[(start + j) % KINDS.length]!.run(),
    );
    out.push(...(await Promise.all(wave)));
  }
  return out;
}

function checkOutcomes(outcomes: Outcome[]): void {
  const wrong = outcomes.filter((o) => o.hung || !KINDS.find((k) => k.kind === o.kind)!.expect.test(o.read));
  assert.deepEqual(wrong, [], 'every session ended as its kind should');
}

test(`port forward: ${SESSIONS} sessions leave no socket, timer, session or listener behind`, async () => {
  const warnings = watchListenerWarnings();
  let runtime: Runtime | undefined;
  const figures = async (): Promise<Counts> => ({
    sessions: runtime?.sessions.size ?? 0,
    listening: runtime?.listening().length ?? 0,
    'redis connected_clients': await redisClients(redis.port),
    'memcached curr_connections': await memcachedConnections(memcached.port),
    ...listenerCounts(process, 'process.'),
  });
  try {
    // A first runtime and a few sessions of each kind: what the process creates once (the DNS
    // channel, parser pools) is in the baseline; what every run leaves is not.
    runtime = await startRuntime();
    checkOutcomes(await runSessions(KINDS.length * 2));
    await runtime.shutdown(0);
    runtime = undefined;
    const idle = await measure(figures);

    runtime = await startRuntime();
    const started = await measure(figures);
    assert.equal(started.extra.listening, 5);
    const rt = runtime;
    const forwardPorts = new Set(Object.values(ports));
    const ours = (s: net.Server) => forwardPorts.has((s.address() as net.AddressInfo | null)?.port ?? -1);

    events.length = 0;
    const first = await runSessions(SESSIONS / 2);
    // The runtime's listeners, found through the sockets they accepted: what one connection adds
    // to a listener it must take off, so twice the sessions show the same counts.
    const serverListeners = acceptingServers(ours).map((s) => listenerCounts(s));
    const second = await runSessions(SESSIONS / 2);
    checkOutcomes([...first, ...second]);
    assert.equal(acceptingServers(ours).length, 5, 'every forward accepted');
    assert.deepEqual(
      acceptingServers(ours).map((s) => listenerCounts(s)),
      serverListeners,
      'listener counts of the runtime listeners did not grow with the sessions',
    );

    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.warnings, [], 'no MaxListenersExceededWarning on any emitter');

    // Every session has ended once the registry is empty (bounded wait, not a fixed sleep).
    const left = await waitUntil(
      () => rt.sessions.list(),
      (l) => l.length === 0,
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(left, [], 'no session left in the registry');
    // The run did what it says (a client that resets at once may be refused as addressless, or
    // time out on the dial: either is fine here).
    const tally = (event: string, reason?: string, source = '127.0.0.') =>
      events.filter(
        (e) =>
          e.event === event && (reason === undefined || e.reason === reason) && e.source.startsWith(source),
      ).length;
    const per = SESSIONS / KINDS.length;
    assert.equal(tally('denied', 'no_ingress_rule_matched', '127.0.0.2:'), per, 'security-group refusals');
    assert.equal(tally('dial_failed', 'GH_ERR_DIAL_REFUSED'), per, 'refused dials');
    assert.ok(tally('dial_failed', 'GH_ERR_DIAL_TIMEOUT') >= per * 2, 'timed-out dials');
    assert.ok(tally('closed') >= per * 6, `relayed sessions closed (${tally('closed')})`);

    // The face at rest holds what it held before the sessions: no socket, no session, no timer.
    await settlesToBaseline(started, figures, {
      timeoutMs: 5000,
      what: 'the running face after its sessions ended',
    });

    await runtime.shutdown(0);
    await settlesToBaseline(idle, figures, { timeoutMs: 5000, what: 'the process after shutdown' });
  } finally {
    warnings.stop();
    await runtime?.shutdown(0);
  }
});

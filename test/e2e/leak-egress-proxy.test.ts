// Leaks of the egress proxy face, in-process (the runtime, as the daemon runs it), against an origin
// on loopback that the test controls: plain GETs on keep-alive connections (the fast front and the
// upstream pool), POSTs (Node's HTTP parser and http.Agent), CONNECT tunnels, refusals (403 by the
// allowlist and the port policy, 407 without or with wrong credentials, a security group), an
// upstream that refuses (502) or never accepts (504), clients that leave mid-request, mid-response
// or mid-dial, an upstream that cuts a response short, a client that sends no head (408), and idle
// keep-alive connections the proxy closes. Once they have ended, the face holds what it held before
// they started (handles, sockets, timers, session-registry entries, listeners, the origin's own
// connection count: pooled upstream connections are closed once idle); once the runtime is shut
// down, the process holds what it held before it started.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { auditChannel, type AuditEvent } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import { Runtime } from '../../src/runtime/runtime.js';
import {
  acceptingServers,
  closeOf,
  hangGuard,
  listenerCounts,
  measure,
  settlesToBaseline,
  startUnaccepting,
  trackResources,
  waitUntil,
  watchListenerWarnings,
  type Counts,
  type Unaccepting,
} from '../helpers/leaks.js';
import { freePort } from '../helpers/procs.js';

trackResources();

const WAVE = 24;
const CONNECT_TIMEOUT_MS = 300;
const HANG_MS = 8000;
/** The fast front's keep-alive limit (KEEP_ALIVE_TIMEOUT in proxy.ts; not configurable). */
const KEEP_ALIVE_MS = 60_000;
const ORIGIN_KEEP_ALIVE_MS = 5000;

let dir: string;
let origin: http.Server;
let originPort: number;
/** Origin sockets, to close them all when the test ends whatever happened. */
const originSockets = new Set<net.Socket>();
let originConnections = 0;
let originRequests = 0;
/** Requests the origin holds (by id in the URL): the test says when a client leaves. */
const arrived = new EventEmitter();
/** Responses of /release the test has not released yet. */
const held: (() => void)[] = [];
let stuck: Unaccepting;
const targets = { dead: 0, closedPort: 0 };
const ports = { open: 0, authed: 0 };
const events: AuditEvent[] = [];
const onAudit = (e: unknown) => void events.push(e as AuditEvent);
const USER = 'alice';
const PASSWORD = 'pw-alice';

function startOrigin(): Promise<void> {
  origin = http.createServer((req, res) => {
    originRequests++;
    const url = new URL(req.url ?? '/', 'http://origin');
    const id = url.searchParams.get('id');
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    if (url.pathname === '/release') {
      // Answers when the test says so (a request in flight while the runtime shuts down).
      const ended = new Promise((r) => req.once('end', r));
      req.resume();
      held.push(() => void ended.then(() => res.end('released\n')));
    }
    if (id) arrived.emit(id);
    switch (url.pathname) {
      case '/hold':
        return; // never answers: the client leaves first
      case '/release':
        return;
      case '/stream':
        // A first chunk now, the rest never: the client leaves mid-response.
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first\n');
        return;
      case '/cut':
        // Announces 100 bytes, sends 5, then the connection goes: the proxy must cut the response.
        res.writeHead(200, { 'Content-Length': '100' });
        res.write('part\n', () => res.socket?.destroy());
        return;
    }
    req.on('end', () => {
      const body = `${req.method} ${url.pathname} ${n}\n`;
      if (url.pathname === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write(body);
        res.end('more\n');
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Content-Length': String(Buffer.byteLength(body)),
        ...(url.pathname === '/close' ? { Connection: 'close' } : {}),
      });
      res.end(body);
    });
  });
  origin.on('connection', (s: net.Socket) => {
    originConnections++;
    originSockets.add(s);
    s.once('close', () => originSockets.delete(s));
  });
  // Node's default, said in a `Keep-Alive: timeout=5` header that http.Agent honours: the proxy's
  // Agent closes its pooled connections after 4 s idle. (Without that hint the proxy's own
  // idleTimeout closes them: see the tests at the end.)
  origin.keepAliveTimeout = ORIGIN_KEEP_ALIVE_MS;
  origin.listen(0, '127.0.0.1');
  return once(origin, 'listening').then(() => {
    originPort = (origin.address() as net.AddressInfo).port;
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-leak-egress-'));
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '127.0.0.1\n');
  const sha = createHash('sha1').update(PASSWORD).digest('base64');
  fs.writeFileSync(path.join(dir, 'users'), `${USER}:{SHA}${sha}\n`);
  await startOrigin();
  stuck = await startUnaccepting();
  targets.dead = await freePort();
  targets.closedPort = await freePort();
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  auditChannel.subscribe(onAudit);
});

after(async () => {
  auditChannel.unsubscribe(onAudit);
  for (const s of originSockets) s.destroy();
  origin?.close();
  await stuck?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function config(): string {
  const common = `securityGroups: [local]
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: "${originPort},${targets.dead},${stuck.port}"
    headersTimeout: 1s
    idleTimeout: 1s
    connectTimeout: ${CONNECT_TIMEOUT_MS}ms`;
  return `securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.1/32" }
egressProxies:
  open:
    listen: "127.0.0.1:${ports.open}"
    ${common}
    accessLog: ./access.log
  authed:
    listen: "127.0.0.1:${ports.authed}"
    ${common}
    auth: { htpasswd: ./users, realm: egress }
admin:
  enabled: false
`;
}

async function startRuntime(): Promise<Runtime> {
  const rt = new Runtime(pino({ level: 'silent' }));
  const report = await rt.apply(parseConfig(config(), path.join(dir, 'gatehouse.yaml'), dir));
  assert.deepEqual(report.failed, []);
  return rt;
}

interface Outcome {
  readonly kind: string;
  /** What the client got: the status of each response, and what it noted on the way. */
  readonly read: string;
  readonly hung: boolean;
}

interface Response {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/**
 * A raw client connection to the proxy that reads responses one at a time (Content-Length,
 * chunked, or bodiless; enough for the origin and the proxy's own replies).
 */
class Client {
  readonly socket: net.Socket;
  private buf = '';
  private wake: (() => void) | undefined;
  /** What the session noted: statuses, bodies it checks, how it ended. */
  readonly notes: string[] = [];
  readonly closed: Promise<void>;

  constructor(port: number, localAddress?: string) {
    this.socket = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    this.socket.on('error', () => {});
    this.socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.wake?.();
    });
    this.socket.on('end', () => this.wake?.());
    this.closed = closeOf(this.socket);
    void this.closed.then(() => this.wake?.());
  }

  /** Resolves when the head, or the whole response, is in; undefined if the connection ended first. */
  async read(opts: { bodiless?: boolean; headOnly?: boolean } = {}): Promise<Response | undefined> {
    for (;;) {
      const r = this.parse(opts);
      if (r) return r;
      if (this.socket.readableEnded || this.socket.destroyed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private parse(opts: { bodiless?: boolean; headOnly?: boolean }): Response | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = this.buf.slice(0, end);
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0);
    const rest = this.buf.slice(end + 4);
    let body: string;
    let used: number;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (opts.headOnly || opts.bodiless || status === 204 || status === 304) [body, used] = ['', 0];
    else if (length) {
      if (rest.length < Number(length[1])) return undefined;
      [body, used] = [rest.slice(0, Number(length[1])), Number(length[1])];
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = rest.indexOf('0\r\n\r\n');
      if (last < 0) return undefined;
      [body, used] = [rest.slice(0, last), last + 5];
    } else return undefined; // close-delimited: not used here
    this.buf = opts.headOnly ? rest : rest.slice(used);
    return { status, head, body };
  }

  /** Send a request and read its response; notes the status. */
  async ask(request: string, opts: { bodiless?: boolean } = {}): Promise<Response | undefined> {
    this.socket.write(request);
    const r = await this.read(opts);
    this.notes.push(r ? String(r.status) : 'none');
    return r;
  }
}

const originAt = () => `127.0.0.1:${originPort}`;
let seq = 0;
/** A request id the origin reports when the request arrives. */
const nextId = () => String(++seq);

function get(target: string, extra = ''): string {
  return `GET http://${target} HTTP/1.1\r\nHost: ${target.split('/')[0]}\r\n${extra}\r\n`;
}
function head(target: string): string {
  return `HEAD http://${target} HTTP/1.1\r\nHost: ${target.split('/')[0]}\r\n\r\n`;
}
function post(target: string, body: string, extra = ''): string {
  return (
    `POST http://${target} HTTP/1.1\r\nHost: ${target.split('/')[0]}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`
  );
}
function connect(authority: string, extra = ''): string {
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extra}\r\n`;
}
const basic = (user: string, password: string) =>
  `Proxy-Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}\r\n`;

/** Wait until the origin has the request `id` (or the client connection is gone). */
function originHas(c: Client, id: string): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      arrived.removeListener(id, done);
      resolve();
    };
    arrived.once(id, done);
    void c.closed.then(done);
  });
}

/**
 * One client session: `script` talks, then the session waits for the connection to close (the
 * script ends it, or the proxy does). Resolves with the notes once the socket has closed.
 */
function session(
  kind: string,
  port: number,
  script: (c: Client) => Promise<void>,
  localAddress?: string,
): Promise<Outcome> {
  const c = new Client(port, localAddress);
  const hung = hangGuard(c.closed, HANG_MS, () => c.socket.destroy());
  // The script's last notes may come after the close (it awaits the close itself): wait for both.
  let started = false;
  const ran = new Promise<void>((resolve) => {
    c.socket.once('connect', () => {
      started = true;
      script(c)
        .catch((err: unknown) => {
          c.notes.push(`script failed: ${String(err)}`);
          c.socket.destroy();
        })
        .finally(resolve);
    });
    void c.closed.then(() => started || resolve());
  });
  return Promise.all([c.closed, ran]).then(() => ({ kind, read: c.notes.join(' '), hung: hung() }));
}

interface Kind {
  readonly kind: string;
  readonly expect: RegExp;
  run(kind: string): Promise<Outcome>;
}

const KINDS: readonly Kind[] = [
  // ---- plain GET/HEAD: the fast front and the upstream pool ----
  {
    kind: 'GET keep-alive: three requests, client ends',
    expect: /^200 200 200 GET \/a 0\n$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const a = await c.ask(get(`${originAt()}/a`));
        await c.ask(get(`${originAt()}/chunked`));
        await c.ask(head(`${originAt()}/a`), { bodiless: true });
        c.notes.push(a?.body ?? '');
        c.socket.end();
      }),
  },
  {
    kind: 'GET: client resets after the response',
    expect: /^200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get(`${originAt()}/a`));
        c.socket.resetAndDestroy();
      }),
  },
  {
    kind: 'GET Connection: close, the proxy closes',
    expect: /^200 closed by the proxy$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get(`${originAt()}/a`, 'Connection: close\r\n'));
        await c.closed;
        c.notes.push(c.socket.readableEnded ? 'closed by the proxy' : 'reset');
      }),
  },
  {
    kind: 'GET: the origin says Connection: close',
    expect: /^200 200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get(`${originAt()}/close`));
        await c.ask(get(`${originAt()}/a`));
        c.socket.end();
      }),
  },
  {
    kind: 'GET: 403 by the allowlist, then a 200 on the same connection',
    expect: /^403 200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get('127.0.0.3:8080/'));
        await c.ask(get(`${originAt()}/a`));
        c.socket.end();
      }),
  },
  {
    kind: 'GET: upstream refuses (502)',
    expect: /^502$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get(`127.0.0.1:${targets.dead}/`));
        c.socket.end();
      }),
  },
  {
    kind: 'GET: upstream never accepts (504)',
    expect: /^504$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(get(`127.0.0.1:${stuck.port}/`));
        c.socket.end();
      }),
  },
  {
    kind: 'GET: client gone mid-request',
    expect: /^$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const id = nextId();
        c.socket.write(get(`${originAt()}/hold?id=${id}`));
        await originHas(c, id);
        c.socket.destroy();
      }),
  },
  {
    kind: 'GET: client gone mid-dial',
    expect: /^$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        c.socket.write(get(`127.0.0.1:${stuck.port}/`));
        // Nothing on the wire says the dial has started: give it a moment.
        await new Promise((r) => setTimeout(r, 50));
        c.socket.resetAndDestroy();
      }),
  },
  {
    kind: 'GET: client gone mid-response',
    expect: /^200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        c.socket.write(get(`${originAt()}/stream?id=${nextId()}`));
        const r = await c.read({ headOnly: true });
        c.notes.push(String(r?.status ?? 'none'));
        c.socket.resetAndDestroy();
      }),
  },
  {
    kind: 'GET: upstream cuts the response short',
    expect: /^200 closed$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        c.socket.write(get(`${originAt()}/cut`));
        const r = await c.read({ headOnly: true });
        c.notes.push(String(r?.status ?? 'none'));
        await c.closed;
        c.notes.push('closed');
      }),
  },
  {
    kind: 'GET: half a head, client ends',
    expect: /^$/,
    run: async (k) =>
      session(k, ports.open, async (c) => {
        c.socket.end(`GET http://${originAt()}/a HTTP/1.1\r\nHo`);
      }),
  },
  {
    kind: 'no head within headersTimeout (408)',
    expect: /^408$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const r = await c.read();
        c.notes.push(String(r?.status ?? 'none'));
      }),
  },
  {
    kind: 'refused by the security group',
    expect: /^none$/,
    run: (k) =>
      session(
        k,
        ports.open,
        async (c) => {
          await c.ask(get(`${originAt()}/a`));
        },
        '127.0.0.2',
      ),
  },
  // ---- requests with a body: Node's parser and http.Agent ----
  {
    kind: 'POST keep-alive: two POSTs and a GET, client ends',
    expect: /^200 200 200 POST \/p 5\n$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const p = await c.ask(post(`${originAt()}/p`, 'hello'));
        await c.ask(post(`${originAt()}/chunked`, 'x'.repeat(3000)));
        await c.ask(get(`${originAt()}/a`));
        c.notes.push(p?.body ?? '');
        c.socket.end();
      }),
  },
  {
    kind: 'POST: 403 by the allowlist',
    expect: /^403$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(post('127.0.0.3:8080/', 'hello'));
        c.socket.end();
      }),
  },
  {
    kind: 'POST: upstream refuses (502)',
    expect: /^502$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(post(`127.0.0.1:${targets.dead}/`, 'hello'));
        c.socket.end();
      }),
  },
  {
    kind: 'POST: upstream never accepts (504)',
    expect: /^504$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(post(`127.0.0.1:${stuck.port}/`, 'hello'));
        c.socket.end();
      }),
  },
  {
    kind: 'POST: client gone mid-request (body cut short)',
    expect: /^$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const id = nextId();
        const target = `${originAt()}/p?id=${id}`;
        c.socket.write(post(target, 'x'.repeat(1000)).slice(0, -990));
        await originHas(c, id);
        c.socket.destroy();
      }),
  },
  {
    kind: 'POST: client gone mid-response',
    expect: /^200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        c.socket.write(post(`${originAt()}/stream?id=${nextId()}`, 'hello'));
        const r = await c.read({ headOnly: true });
        c.notes.push(String(r?.status ?? 'none'));
        c.socket.resetAndDestroy();
      }),
  },
  // ---- CONNECT tunnels ----
  {
    kind: 'CONNECT: a GET inside, client ends',
    expect: /^200 200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const r = await c.ask(connect(originAt()), { bodiless: true });
        if (r?.status === 200) await c.ask(`GET /a HTTP/1.1\r\nHost: x\r\n\r\n`);
        c.socket.end();
      }),
  },
  {
    kind: 'CONNECT: client resets',
    expect: /^200 200$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const r = await c.ask(connect(originAt()), { bodiless: true });
        if (r?.status === 200) await c.ask(`GET /a HTTP/1.1\r\nHost: x\r\n\r\n`);
        c.socket.resetAndDestroy();
      }),
  },
  {
    kind: 'CONNECT: target closes',
    expect: /^200 200 closed$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        const r = await c.ask(connect(originAt()), { bodiless: true });
        if (r?.status === 200) await c.ask(`GET /close HTTP/1.1\r\nHost: x\r\n\r\n`);
        await c.closed;
        c.notes.push('closed');
      }),
  },
  {
    kind: 'CONNECT: 403 by the allowlist',
    expect: /^403$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(connect(`127.0.0.3:${originPort}`));
        c.socket.end();
      }),
  },
  {
    kind: 'CONNECT: 403 by the port policy',
    expect: /^403$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(connect(`127.0.0.1:${targets.closedPort}`));
        c.socket.end();
      }),
  },
  {
    kind: 'CONNECT: upstream refuses (502)',
    expect: /^502$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(connect(`127.0.0.1:${targets.dead}`));
        c.socket.end();
      }),
  },
  {
    kind: 'CONNECT: upstream never accepts (504)',
    expect: /^504$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        await c.ask(connect(`127.0.0.1:${stuck.port}`));
        c.socket.end();
      }),
  },
  {
    kind: 'CONNECT: client gone mid-dial',
    expect: /^$/,
    run: (k) =>
      session(k, ports.open, async (c) => {
        c.socket.write(connect(`127.0.0.1:${stuck.port}`));
        await new Promise((r) => setTimeout(r, 50));
        c.socket.resetAndDestroy();
      }),
  },
  // ---- proxy auth ----
  {
    kind: 'auth: GET without credentials (407), then with them (200)',
    expect: /^407 200$/,
    run: (k) =>
      session(k, ports.authed, async (c) => {
        await c.ask(get(`${originAt()}/a`));
        await c.ask(get(`${originAt()}/a`, basic(USER, PASSWORD)));
        c.socket.end();
      }),
  },
  {
    kind: 'auth: CONNECT with a wrong password (407)',
    expect: /^407$/,
    run: (k) =>
      session(k, ports.authed, async (c) => {
        await c.ask(connect(originAt(), basic(USER, 'wrong')));
        c.socket.end();
      }),
  },
  {
    kind: 'auth: POST without credentials (407)',
    expect: /^407$/,
    run: (k) =>
      session(k, ports.authed, async (c) => {
        await c.ask(post(`${originAt()}/p`, 'hello'));
        c.socket.end();
      }),
  },
];

const PER_KIND = 8;
const SESSIONS = PER_KIND * KINDS.length;

async function runSessions(n: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let start = 0; start < n; start += WAVE) {
    const wave = Array.from({ length: Math.min(WAVE, n - start) }, (_, j) => {
      const k = KINDS[(start + j) % KINDS.length]!;
      return k.run(k.kind);
    });
    out.push(...(await Promise.all(wave)));
  }
  return out;
}

function checkOutcomes(outcomes: readonly Outcome[]): void {
  const wrong = outcomes.filter((o) => o.hung || !KINDS.find((k) => k.kind === o.kind)!.expect.test(o.read));
  assert.deepEqual(wrong, [], 'every session ended as its kind should');
}

/**
 * Keep-alive connections left idle after a response: the proxy closes them after KEEP_ALIVE_MS.
 * The proxy's idle sweeps read performance.now(); for this phase (no other session is open) that
 * clock runs 200 times faster, so a minute passes for them in a third of a second.
 */
async function idleKeepAlives(n: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = new Client(ports.open);
      const hung = hangGuard(c.closed, HANG_MS, () => c.socket.destroy());
      await once(c.socket, 'connect');
      await c.ask(get(`${originAt()}/a`));
      return { c, hung };
    }),
  );
  assert.deepEqual(
    clients.map(({ c }) => c.notes.join(' ')),
    clients.map(() => '200'),
  );
  const real = performance.now.bind(performance);
  const t0 = real();
  performance.now = () => t0 + (real() - t0) * 200;
  try {
    await Promise.all(clients.map(({ c }) => c.closed));
  } finally {
    delete (performance as { now?: unknown }).now;
  }
  assert.deepEqual(
    clients.map(({ c, hung }) => ({ hung: hung(), endedByProxy: c.socket.readableEnded })),
    clients.map(() => ({ hung: false, endedByProxy: true })),
    `every idle keep-alive connection closed by the proxy after ${KEEP_ALIVE_MS} ms (as its clock ran)`,
  );
}

/**
 * Upstream keep-alive: requests one after another, each on a new client connection, ride the
 * upstream connections the proxy pooled (its own pool for plain GETs, its http.Agent for POSTs), so
 * the origin sees at most one new connection for each of the two.
 */
async function upstreamReuse(n: number): Promise<void> {
  const connections = originConnections;
  const requests = originRequests;
  for (let i = 0; i < n; i++)
    for (const request of [get(`${originAt()}/a`), post(`${originAt()}/p`, 'hello')]) {
      const o = await session('upstream reuse', ports.open, async (c) => {
        await c.ask(request);
        c.socket.end();
      });
      assert.deepEqual(o, { kind: 'upstream reuse', read: '200', hung: false });
    }
  assert.equal(originRequests - requests, 2 * n);
  assert.ok(
    originConnections - connections <= 2,
    `${2 * n} requests in a row took ${originConnections - connections} new upstream connections`,
  );
}

/**
 * A GET (fast front, upstream pool) and a CONNECT tunnel in flight when the runtime shuts down with
 * a grace period: the GET's response completes within it, announced as the connection's last, and
 * the tunnel carries on until its client ends it; the upstream connections they rode close with
 * them (none goes back to a pool that outlives the proxy).
 */
async function inFlightAtShutdown(rt: Runtime): Promise<void> {
  const plain = new Client(ports.open);
  const id = nextId();
  plain.socket.write(get(`${originAt()}/release?id=${id}`));
  const arrivedAtOrigin = originHas(plain, id);
  const tunnel = new Client(ports.open);
  await once(tunnel.socket, 'connect');
  assert.equal((await tunnel.ask(connect(originAt()), { bodiless: true }))?.status, 200);
  assert.equal((await tunnel.ask('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'))?.status, 200);
  await arrivedAtOrigin;
  assert.equal(held.length, 1, 'the origin holds the GET');
  const stopped = rt.shutdown(10_000);
  for (const release of held.splice(0)) release();
  const r = await plain.read();
  assert.deepEqual(
    [r?.status, /\r\nconnection: close/i.test(r?.head ?? ''), r?.body],
    [200, true, 'released\n'],
    'the GET completes within the grace period, as the last response on its connection',
  );
  await plain.closed;
  assert.equal(
    (await tunnel.ask('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'))?.status,
    200,
    'the tunnel carries on within the grace period',
  );
  tunnel.socket.end();
  await tunnel.closed;
  await stopped;
}

test(`egress proxy: ${SESSIONS} sessions leave no socket, timer, session, pooled connection or listener behind`, async () => {
  const warnings = watchListenerWarnings();
  let runtime: Runtime | undefined;
  const figures = async (): Promise<Counts> => ({
    sessions: runtime?.sessions.size ?? 0,
    listening: runtime?.listening().length ?? 0,
    'origin connections': await new Promise<number>((r, j) =>
      origin.getConnections((err, n) => (err ? j(err) : r(n))),
    ),
    ...listenerCounts(process, 'process.'),
  });
  try {
    // A first runtime and sessions of each kind: what the process creates once is in the baseline.
    runtime = await startRuntime();
    checkOutcomes(await runSessions(KINDS.length));
    await idleKeepAlives(4);
    await runtime.shutdown(0);
    runtime = undefined;
    // The baseline once the upstream side has seen the shutdown (its FINs arrive a moment later).
    const idle = await waitUntil(
      () => measure(figures),
      (m) => m.extra['origin connections'] === 0,
      { timeoutMs: 5000 },
    );
    assert.equal(idle.extra['origin connections'], 0, 'the first runtime left no upstream connection open');

    runtime = await startRuntime();
    const started = await measure(figures);
    assert.equal(started.extra.listening, 2);
    assert.equal(started.extra['origin connections'], 0);
    const rt = runtime;
    const ours = new Set(Object.values(ports));
    const isOurs = (s: net.Server) => ours.has((s.address() as net.AddressInfo | null)?.port ?? -1);

    events.length = 0;
    originConnections = 0;
    originRequests = 0;
    const first = await runSessions(SESSIONS / 2);
    const serverListeners = acceptingServers(isOurs).map((s) => listenerCounts(s));
    const second = await runSessions(SESSIONS / 2);
    checkOutcomes([...first, ...second]);
    assert.equal(acceptingServers(isOurs).length, 2, 'both proxies accepted');
    assert.deepEqual(
      acceptingServers(isOurs).map((s) => listenerCounts(s)),
      serverListeners,
      'listener counts of the runtime listeners did not grow with the sessions',
    );
    await upstreamReuse(10);
    await idleKeepAlives(16);

    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.warnings, [], 'no MaxListenersExceededWarning on any emitter');

    const left = await waitUntil(
      () => rt.sessions.list(),
      (l) => l.length === 0,
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(left, [], 'no session left in the registry');

    // The run did what it says (a client that leaves mid-dial may be gone before the proxy decides,
    // even refused as addressless: lower bounds for those).
    const per = SESSIONS / KINDS.length;
    const tally = (event: string, reason: string) =>
      events.filter((e) => e.event === event && e.reason === reason).length;
    assert.ok(tally('denied', 'no_ingress_rule_matched') >= per, 'security-group refusals');
    assert.equal(tally('denied', 'not_in_allowlist'), per * 3, 'allowlist refusals');
    assert.equal(tally('denied', 'connect_port_not_allowed'), per, 'port policy refusals');
    assert.equal(tally('denied', 'auth_required'), per * 2, 'requests without credentials');
    assert.equal(tally('denied', 'auth_failed'), per, 'requests with a wrong password');
    assert.equal(tally('closed', 'GH_ERR_DIAL_REFUSED'), per * 3, 'upstreams that refused');
    assert.ok(tally('closed', 'GH_ERR_DIAL_TIMEOUT') >= per * 3, 'upstreams that never accepted');
    assert.equal(tally('closed', 'GH_ERR_REQUEST_TIMEOUT'), per, 'clients that sent no head');

    // The face at rest holds what it held before the sessions: pooled upstream connections close
    // once idle (idleTimeout for the fast path's pool, the origin's Keep-Alive hint for the Agent).
    await settlesToBaseline(started, figures, {
      timeoutMs: 10_000,
      what: 'the running face after its sessions ended',
    });

    await inFlightAtShutdown(runtime);
    await settlesToBaseline(idle, figures, { timeoutMs: 5000, what: 'the process after shutdown' });
  } finally {
    warnings.stop();
    delete (performance as { now?: unknown }).now;
    await runtime?.shutdown(0);
  }
});

// Two leaks this test found in the Node-parser path (requests with a body go through http.Agent),
// shown against an origin that keeps idle connections longer than a minute and sends no
// Keep-Alive hint the Agent would honour; proxy.ts now closes those connections.

/** A runtime with one proxy, the origin's keep-alive made long, for `body`; cleaned up after. */
async function withLongKeepAliveOrigin(body: (rt: Runtime) => Promise<void>): Promise<void> {
  origin.keepAliveTimeout = 120_000;
  let rt: Runtime | undefined;
  try {
    rt = await startRuntime();
    await body(rt);
  } finally {
    await rt?.shutdown(0);
    for (const s of originSockets) s.destroy();
    origin.keepAliveTimeout = ORIGIN_KEEP_ALIVE_MS;
  }
}

const originConnectionsNow = () =>
  new Promise<number>((r, j) => origin.getConnections((err, n) => (err ? j(err) : r(n))));

test('egress proxy: a POST in flight at shutdown does not leave its upstream connection open after it', async () => {
  await withLongKeepAliveOrigin(async (rt) => {
    const c = new Client(ports.open);
    const id = nextId();
    c.socket.write(post(`${originAt()}/release?id=${id}`, 'hello'));
    await originHas(c, id);
    assert.equal(held.length, 1, 'the origin holds the POST');
    const stopped = rt.shutdown(10_000);
    held.splice(0).forEach((release) => release());
    assert.equal((await c.read())?.status, 200);
    await c.closed;
    await stopped;
    const left = await waitUntil(originConnectionsNow, (n) => n === 0, { timeoutMs: 3000 });
    assert.equal(left, 0, 'upstream connections open after the proxy stopped');
  });
});

test('egress proxy: a pooled upstream connection of a POST closes after idleTimeout, as one of a GET does', async () => {
  await withLongKeepAliveOrigin(async () => {
    for (const request of [get(`${originAt()}/a`), post(`${originAt()}/p`, 'hello')]) {
      const o = await session('pooled', ports.open, async (c) => {
        await c.ask(request);
        c.socket.end();
      });
      assert.deepEqual(o, { kind: 'pooled', read: '200', hung: false });
    }
    // idleTimeout is 1 s; the sweeps close an idle pooled connection within about two more.
    const left = await waitUntil(originConnectionsNow, (n) => n === 0, { timeoutMs: 4000 });
    assert.equal(left, 0, 'pooled upstream connections still open after idleTimeout');
  });
});

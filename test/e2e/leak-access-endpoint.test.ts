// Leaks of the access endpoint face, in-process (the runtime, as the daemon runs it), with real
// certificates minted per run: sessions of every ending through the CONNECT tunnel over HTTP/1.1
// and HTTP/2 and through direct TLS listeners. Ended by the client (FIN, reset, RST_STREAM), by the
// target, by a security group, by a failed or abandoned handshake (no TLS, no certificate, a
// certificate of another CA, a client that leaves mid-handshake or refuses the server), by a
// revoked certificate, by a new CRL revoking a live session, by an authorization rule, by a dial
// refused or timed out or abandoned by the client, and by sessionTimeout. Once they have ended, the
// face holds what it held before they started (handles, sockets, timers, session-registry
// entries, live verified connections, listeners); once the runtime is shut down, the process holds
// what it held before it started.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { auditChannel, type AuditEvent } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import type { AccessEndpointFace } from '../../src/faces/access/access-face.js';
import type { Face } from '../../src/faces/face.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import {
  acceptingServers,
  closeOf,
  hangGuard,
  listenerCounts,
  measure,
  redisClients,
  settlesToBaseline,
  startUnaccepting,
  trackResources,
  waitUntil,
  watchListenerWarnings,
  type Counts,
  type Unaccepting,
} from '../helpers/leaks.js';
import { freePort, startRedis, type Server } from '../helpers/procs.js';

trackResources();

const WAVE = 24;
const CONNECT_TIMEOUT_MS = 300;
/** A client session that has not closed after this is destroyed and reported as hung. */
const HANG_MS = 8000;

let dir: string;
let pki: TestPki;
let otherPki: TestPki;
/** developers: may reach the targets of `dev`. */
let alice: ClientFiles;
/** ops: no rule of `dev` names this group. */
let bob: ClientFiles;
/** Revoked before the runtime starts. */
let eve: ClientFiles;
/** Signed by another CA. */
let stranger: ClientFiles;
/** Revoked while their sessions are live, one per round. */
const victims: { name: string; files: ClientFiles }[] = [];
let redis: Server;
/** Answers the first bytes with "bye" and hangs up (FIN): a target that ends the session. */
let hangup: net.Server;
/** Its connections, closed when the test ends whatever happened (a leaked one would hold the process). */
const hangupSockets = new Set<net.Socket>();
let stuck: Unaccepting;
const targets = { hangup: 0, dead: 0, forbidden: 0 };
const ports = {
  tunnel: 0,
  directRedis: 0,
  directHangup: 0,
  directDead: 0,
  directStuck: 0,
  directForbidden: 0,
  shortTunnel: 0,
  shortDirect: 0,
};
const pems = new Map<string, Buffer>();
const pem = (file: string) => {
  let b = pems.get(file);
  if (!b) pems.set(file, (b = fs.readFileSync(file)));
  return b;
};
const events: AuditEvent[] = [];
const onAudit = (e: unknown) => void events.push(e as AuditEvent);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-leak-access-'));
  pki = await mintPki(['IP:127.0.0.1', 'DNS:localhost'], dir);
  otherPki = await mintPki(['IP:127.0.0.1'], path.join(dir, 'other'));
  alice = await pki.client('alice', ['developers']);
  bob = await pki.client('bob', ['ops']);
  eve = await pki.client('eve', ['developers']);
  await pki.revoke('eve');
  stranger = await otherPki.client('stranger', ['developers']);
  for (let i = 0; i < 3; i++) {
    const name = `victim${i}`;
    victims.push({ name, files: await pki.client(name, ['developers']) });
  }
  redis = await startRedis();
  hangup = net.createServer((s) => {
    hangupSockets.add(s);
    s.once('close', () => hangupSockets.delete(s));
    s.on('error', () => {});
    s.once('data', () => s.end('bye\r\n'));
  });
  hangup.listen(0, '127.0.0.1');
  await once(hangup, 'listening');
  targets.hangup = (hangup.address() as net.AddressInfo).port;
  stuck = await startUnaccepting();
  targets.dead = await freePort();
  targets.forbidden = await freePort();
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  auditChannel.subscribe(onAudit);
});

after(async () => {
  auditChannel.unsubscribe(onAudit);
  for (const s of hangupSockets) s.destroy();
  hangup?.close();
  await stuck?.close();
  await redis?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function config(): string {
  return `pki: ./pki
securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.1/32" }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${ports.tunnel}"
    serverCertificate: server
    securityGroups: [local]
    connectTimeout: ${CONNECT_TIMEOUT_MS}ms
    authorizationRules:
      - target: "127.0.0.1/32"
        ports: "${redis.port},${targets.hangup},${targets.dead},${stuck.port}"
        groups: [developers]
    directListeners:
      - { listen: "127.0.0.1:${ports.directRedis}", target: "127.0.0.1:${redis.port}" }
      - { listen: "127.0.0.1:${ports.directHangup}", target: "127.0.0.1:${targets.hangup}" }
      - { listen: "127.0.0.1:${ports.directDead}", target: "127.0.0.1:${targets.dead}" }
      - { listen: "127.0.0.1:${ports.directStuck}", target: "127.0.0.1:${stuck.port}" }
      - { listen: "127.0.0.1:${ports.directForbidden}", target: "127.0.0.1:${targets.forbidden}" }
  short:
    listen: "127.0.0.1:${ports.shortTunnel}"
    serverCertificate: server
    securityGroups: [local]
    sessionTimeout: 1s
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${ports.shortDirect}", target: "127.0.0.1:${redis.port}" }
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

/** The runtime's access face (private to the runtime; the test reads its live connections). */
function accessFace(rt: Runtime): AccessEndpointFace {
  const faces = rt['faces'] as readonly Face[];
  return faces.find((f) => f.name === 'accessEndpoint') as unknown as AccessEndpointFace;
}

interface Outcome {
  readonly kind: string;
  /** What the client read (or, for HTTP/2, what its streams got) before it closed. */
  readonly read: string;
  /** The client gave up on a session that did not end (a leak of its own kind). */
  readonly hung: boolean;
}

const noop = () => {};
const redisAt = () => `127.0.0.1:${redis.port}`;

/** TLS options of a client: its certificate (if any) and the CA it trusts (this PKI's by default). */
function clientTls(cert: ClientFiles | undefined, trust = pki.ca): tls.ConnectionOptions {
  return {
    ca: pem(trust),
    servername: 'localhost',
    ...(cert ? { cert: pem(cert.cert), key: pem(cert.key) } : {}),
  };
}

/** A raw TCP connection to a gatehouse port (from 127.0.0.1 unless `localAddress`). */
function dialRaw(port: number, localAddress?: string): net.Socket {
  const raw = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
  raw.on('error', noop);
  return raw;
}

/** A plain TCP session; resolves once the client socket has closed. */
function rawSession(kind: string, port: number, script: (s: net.Socket) => void): Promise<Outcome> {
  const s = dialRaw(port);
  let read = '';
  s.on('data', (d: Buffer) => (read += d.toString('latin1')));
  s.once('connect', () => script(s));
  const closed = closeOf(s);
  const hung = hangGuard(closed, HANG_MS, () => s.destroy());
  return closed.then(() => ({ kind, read, hung: hung() }));
}

type TlsScript = (t: tls.TLSSocket, raw: net.Socket) => void;

/**
 * A TLS session over a raw TCP socket the test holds (so it can reset it); `script` runs once the
 * handshake is done. Resolves once both sockets have closed.
 */
function tlsSession(
  kind: string,
  port: number,
  cert: ClientFiles | undefined,
  script: TlsScript,
  opts: { alpn?: string[]; trust?: string; localAddress?: string; onKeylog?: TlsScript } = {},
): Promise<Outcome> {
  const raw = dialRaw(port, opts.localAddress);
  const t = tls.connect({
    ...clientTls(cert, opts.trust),
    socket: raw,
    ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
  });
  t.on('error', noop);
  let read = '';
  t.on('data', (d: Buffer) => (read += d.toString('latin1')));
  if (opts.onKeylog) t.once('keylog', () => opts.onKeylog!(t, raw));
  t.once('secureConnect', () => script(t, raw));
  const closed = Promise.all([closeOf(t), closeOf(raw)]);
  t.once('close', () => raw.destroy());
  const hung = hangGuard(closed, HANG_MS, () => t.destroy());
  return closed.then(() => ({ kind, read, hung: hung() }));
}

/** Write `request`; once `reply` has been read, run `then` (once). */
function exchange(request: string, reply: string, then: TlsScript): TlsScript {
  return (t, raw) => {
    let got = '';
    let done = false;
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (done || !got.includes(reply)) return;
      done = true;
      t.removeListener('data', onData);
      then(t, raw);
    };
    t.on('data', onData);
    t.write(request);
  };
}

/** HTTP/1.1 CONNECT `authority`; once the reply head has been read, run `then` (on 200 only). */
function connect(authority: string, then: TlsScript = noop): TlsScript {
  return (t, raw) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      t.removeListener('data', onData);
      if (got.startsWith('HTTP/1.1 200 ')) then(t, raw);
    };
    t.on('data', onData);
    t.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  };
}

const end: TlsScript = (t) => t.end();
const reset: TlsScript = (_t, raw) => raw.resetAndDestroy();
const destroy: TlsScript = (t) => t.destroy();
/** Leave the session open: the gateway is to end it. */
const hold: TlsScript = noop;
/** Give the gateway a moment to start its dial (nothing on the wire says it has), then go. */
const later =
  (then: TlsScript): TlsScript =>
  (t, raw) =>
    void setTimeout(() => then(t, raw), 50);

/**
 * An HTTP/2 session to the tunnel over a raw TCP socket the test holds; `body` runs once the
 * session is up and returns what its streams got. Resolves once the session has closed and the
 * body has finished.
 */
function h2Session(
  kind: string,
  port: number,
  cert: ClientFiles | undefined,
  body: (c: http2.ClientHttp2Session, raw: net.Socket) => Promise<string>,
): Promise<Outcome> {
  const raw = dialRaw(port);
  const c = http2.connect(`https://localhost:${port}`, {
    createConnection: () => tls.connect({ ...clientTls(cert), socket: raw, ALPNProtocols: ['h2'] }),
  });
  c.on('error', noop);
  let ran: Promise<string> = Promise.resolve('');
  c.once('connect', () => {
    ran = body(c, raw).catch((err: unknown) => `body failed: ${String(err)}`);
  });
  const closed = Promise.all([closeOf(c), closeOf(raw)]);
  c.once('close', () => raw.destroy());
  const hung = hangGuard(closed, HANG_MS, () => c.destroy());
  return closed.then(async () => ({ kind, read: await ran, hung: hung() }));
}

type StreamEnding = 'end' | 'cancel' | 'quit' | 'hold';

/**
 * One CONNECT stream: on 200, PING the target, then end as told; resolves with "STATUS:DATA" once
 * the stream has closed. `onPong` runs once the target has answered.
 */
function stream(
  c: http2.ClientHttp2Session,
  authority: string,
  ending: StreamEnding,
  onPong: () => void = noop,
): Promise<string> {
  return new Promise((resolve) => {
    const s = c.request({ ':method': 'CONNECT', ':authority': authority });
    let status = 0;
    let data = '';
    s.on('error', noop);
    s.on('response', (h) => {
      status = Number(h[':status']);
      if (status !== 200) return;
      s.write(ending === 'quit' ? 'QUIT\r\n' : 'PING\r\n');
    });
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (status !== 200 || !data.includes('\r\n')) return;
      onPong();
      if (ending === 'end') s.end();
      else if (ending === 'cancel') s.close(http2.constants.NGHTTP2_CANCEL);
    });
    // A CONNECT stream is a tunnel: once the gateway has ended its side (a refusal, or the target
    // closed), the client ends its own, as a client that reads to the end does.
    s.once('end', () => s.end());
    s.once('close', () => resolve(`${status}:${status === 200 ? data : ''}`));
  });
}

/** Close the HTTP/2 session once its streams are done; the streams' results, in order. */
async function streams(c: http2.ClientHttp2Session, all: Promise<string>[]): Promise<string> {
  const out = await Promise.all(all);
  c.close();
  return out.join(' ');
}

const PONG = '+PONG\r\n';
const OK200 = /^HTTP\/1\.1 200 [^\r]*\r\n\r\n/;

interface Kind {
  readonly kind: string;
  readonly expect: RegExp;
  run(kind: string): Promise<Outcome>;
}

/** The kinds of session, in turn. `expect` is what the client must have read. */
const KINDS: readonly Kind[] = [
  // ---- direct TLS listeners ----
  {
    kind: 'direct: client ends',
    expect: /^\+PONG\r\n$/,
    run: (k) => tlsSession(k, ports.directRedis, alice, exchange('PING\r\n', PONG, end)),
  },
  {
    kind: 'direct: client resets',
    expect: /^\+PONG\r\n$/,
    run: (k) => tlsSession(k, ports.directRedis, alice, exchange('PING\r\n', PONG, reset)),
  },
  {
    kind: 'direct: target closes (QUIT)',
    expect: /^\+OK\r\n$/,
    run: (k) => tlsSession(k, ports.directRedis, alice, (t) => t.write('QUIT\r\n')),
  },
  {
    kind: 'direct: node target hangs up',
    expect: /^bye\r\n$/,
    run: (k) => tlsSession(k, ports.directHangup, alice, (t) => t.write('hello\r\n')),
  },
  {
    kind: 'direct: refused by the security group',
    expect: /^$/,
    run: (k) => tlsSession(k, ports.directRedis, alice, end, { localAddress: '127.0.0.2' }),
  },
  {
    kind: 'direct: no client certificate',
    expect: /^-ERR gatehouse: no client certificate/,
    run: (k) => tlsSession(k, ports.directRedis, undefined, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: certificate of another CA',
    expect: /^-ERR gatehouse: client certificate not issued by this endpoint's CA/,
    run: (k) => tlsSession(k, ports.directRedis, stranger, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: revoked certificate',
    expect: /^-ERR gatehouse: client certificate revoked/,
    run: (k) => tlsSession(k, ports.directRedis, eve, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: authorization denied',
    expect: /^-ERR gatehouse: 403 /,
    run: (k) => tlsSession(k, ports.directForbidden, alice, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: dial refused',
    expect: /^-ERR gatehouse: 502 /,
    run: (k) => tlsSession(k, ports.directDead, alice, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: dial times out',
    expect: /^-ERR gatehouse: 504 /,
    run: (k) => tlsSession(k, ports.directStuck, alice, (t) => t.write('PING\r\n')),
  },
  {
    kind: 'direct: client gone mid-dial',
    expect: /^$/,
    run: (k) => tlsSession(k, ports.directStuck, alice, later(destroy)),
  },
  {
    kind: 'direct: client ends mid-dial',
    // Half-closed after the handshake, the connection still carries the refusal back.
    expect: /^-ERR gatehouse: 504 /,
    run: (k) => tlsSession(k, ports.directStuck, alice, later(end)),
  },
  {
    kind: 'direct: sessionTimeout',
    expect: /^\+PONG\r\n$/,
    run: (k) => tlsSession(k, ports.shortDirect, alice, exchange('PING\r\n', PONG, hold)),
  },
  // ---- handshakes that fail or are abandoned ----
  {
    kind: 'handshake: not TLS',
    expect: /^(?![\s\S]*PONG)/,
    run: (k) => rawSession(k, ports.directRedis, (s) => s.write('PING\r\n')),
  },
  {
    kind: 'handshake: client resets before any byte',
    expect: /^$/,
    run: (k) => rawSession(k, ports.directRedis, (s) => s.resetAndDestroy()),
  },
  {
    kind: 'handshake: client gone after half a ClientHello',
    expect: /^$/,
    // A TLS record header announcing 512 bytes of handshake, and 4 of them.
    run: (k) =>
      rawSession(k, ports.tunnel, (s) =>
        s.write(Buffer.from('160301020001000200', 'hex'), () => s.destroy()),
      ),
  },
  {
    kind: 'handshake: client gone after the server hello',
    expect: /^$/,
    run: (k) => tlsSession(k, ports.tunnel, alice, end, { onKeylog: reset }),
  },
  {
    kind: 'handshake: client refuses the server certificate',
    expect: /^$/,
    run: (k) => tlsSession(k, ports.directRedis, alice, end, { trust: otherPki.ca }),
  },
  // ---- the tunnel, HTTP/1.1 ----
  {
    kind: 'h1 CONNECT: client ends',
    expect: new RegExp(`${OK200.source}\\+PONG\\r\\n$`),
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(redisAt(), exchange('PING\r\n', PONG, end)), {
        alpn: ['http/1.1'],
      }),
  },
  {
    kind: 'h1 CONNECT: client resets',
    expect: new RegExp(`${OK200.source}\\+PONG\\r\\n$`),
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(redisAt(), exchange('PING\r\n', PONG, reset)), {
        alpn: ['http/1.1'],
      }),
  },
  {
    kind: 'h1 CONNECT: target closes (QUIT)',
    expect: new RegExp(`${OK200.source}\\+OK\\r\\n$`),
    run: (k) =>
      tlsSession(
        k,
        ports.tunnel,
        alice,
        connect(redisAt(), (t) => t.write('QUIT\r\n')),
        { alpn: ['http/1.1'] },
      ),
  },
  {
    kind: 'h1 CONNECT: node target hangs up',
    expect: new RegExp(`${OK200.source}bye\\r\\n$`),
    run: (k) =>
      tlsSession(
        k,
        ports.tunnel,
        alice,
        connect(`127.0.0.1:${targets.hangup}`, (t) => t.write('hello\r\n')),
        { alpn: ['http/1.1'] },
      ),
  },
  {
    kind: 'h1 CONNECT: refused by the security group',
    expect: /^$/,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(redisAt()), {
        alpn: ['http/1.1'],
        localAddress: '127.0.0.2',
      }),
  },
  {
    kind: 'h1 CONNECT: no client certificate',
    expect: /^HTTP\/1\.1 403 [^]*x-gatehouse-reason: no_certificate/i,
    run: (k) => tlsSession(k, ports.tunnel, undefined, connect(redisAt()), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: certificate of another CA',
    expect: /^HTTP\/1\.1 403 [^]*x-gatehouse-reason: unknown_ca/i,
    run: (k) => tlsSession(k, ports.tunnel, stranger, connect(redisAt()), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: revoked certificate',
    expect: /^HTTP\/1\.1 403 [^]*x-gatehouse-reason: revoked/i,
    run: (k) => tlsSession(k, ports.tunnel, eve, connect(redisAt()), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: no rule covers the target',
    expect: /^HTTP\/1\.1 403 [^]*x-gatehouse-reason: no_authorization_rule_matched/i,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(`127.0.0.1:${targets.forbidden}`), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: group not authorized',
    expect: /^HTTP\/1\.1 403 [^]*x-gatehouse-reason: not_in_authorized_group/i,
    run: (k) => tlsSession(k, ports.tunnel, bob, connect(redisAt()), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: dial refused',
    expect: /^HTTP\/1\.1 502 [^]*x-gatehouse-reason: GH_ERR_DIAL_REFUSED/i,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(`127.0.0.1:${targets.dead}`), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: dial times out',
    expect: /^HTTP\/1\.1 504 [^]*x-gatehouse-reason: GH_ERR_DIAL_TIMEOUT/i,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, connect(`127.0.0.1:${stuck.port}`), { alpn: ['http/1.1'] }),
  },
  {
    kind: 'h1 CONNECT: client gone mid-dial',
    expect: /^$/,
    run: (k) =>
      tlsSession(
        k,
        ports.tunnel,
        alice,
        (t, raw) => {
          t.write(`CONNECT 127.0.0.1:${stuck.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
          later(reset)(t, raw);
        },
        { alpn: ['http/1.1'] },
      ),
  },
  {
    kind: 'h1: a GET instead of CONNECT',
    expect: /^HTTP\/1\.1 405 /,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, (t) => t.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), {
        alpn: ['http/1.1'],
      }),
  },
  {
    kind: 'h1: client ends in the middle of a CONNECT head',
    expect: /^$/,
    run: (k) =>
      tlsSession(k, ports.tunnel, alice, (t) => t.end(`CONNECT ${redisAt()} HTTP/1.1\r\nHo`), {
        alpn: ['http/1.1'],
      }),
  },
  {
    kind: 'h1 CONNECT: sessionTimeout',
    expect: new RegExp(`${OK200.source}\\+PONG\\r\\n$`),
    run: (k) =>
      tlsSession(k, ports.shortTunnel, alice, connect(redisAt(), exchange('PING\r\n', PONG, hold)), {
        alpn: ['http/1.1'],
      }),
  },
  {
    kind: 'h1: verified client that sends nothing (sessionTimeout)',
    expect: /^$/,
    run: (k) => tlsSession(k, ports.shortTunnel, alice, hold, { alpn: ['http/1.1'] }),
  },
  // ---- the tunnel, HTTP/2 ----
  {
    kind: 'h2 CONNECT: streams end, client closes the session',
    expect: /^200:\+PONG\r\n 200:\+PONG\r\n 200:\+PONG\r\n$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, (c) =>
        streams(c, [stream(c, redisAt(), 'end'), stream(c, redisAt(), 'end'), stream(c, redisAt(), 'end')]),
      ),
  },
  {
    kind: 'h2 CONNECT: target closes (QUIT)',
    expect: /^200:\+OK\r\n 200:\+OK\r\n$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, (c) =>
        streams(c, [stream(c, redisAt(), 'quit'), stream(c, redisAt(), 'quit')]),
      ),
  },
  {
    kind: 'h2 CONNECT: streams reset (RST_STREAM)',
    expect: /^200:\+PONG\r\n 200:\+PONG\r\n$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, (c) =>
        streams(c, [stream(c, redisAt(), 'cancel'), stream(c, redisAt(), 'cancel')]),
      ),
  },
  {
    kind: 'h2 CONNECT: client resets the connection under live streams',
    expect: /^200:\+PONG\r\n 200:\+PONG\r\n$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, async (c, raw) => {
        let pongs = 0;
        const onPong = () => void (++pongs === 2 && raw.resetAndDestroy());
        const out = await Promise.all([
          stream(c, redisAt(), 'hold', onPong),
          stream(c, redisAt(), 'hold', onPong),
        ]);
        return out.join(' ');
      }),
  },
  {
    kind: 'h2 CONNECT: refusals (403, 502, 504) on one session',
    expect: /^403: 403: 502: 504:$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, (c) =>
        streams(c, [
          stream(c, `127.0.0.1:${targets.forbidden}`, 'end'),
          stream(c, '10.99.0.1:6379', 'end'),
          stream(c, `127.0.0.1:${targets.dead}`, 'end'),
          stream(c, `127.0.0.1:${stuck.port}`, 'end'),
        ]),
      ),
  },
  {
    kind: 'h2 CONNECT: no client certificate',
    expect: /^403:$/,
    run: (k) => h2Session(k, ports.tunnel, undefined, (c) => streams(c, [stream(c, redisAt(), 'end')])),
  },
  {
    kind: 'h2 CONNECT: client gone mid-dial',
    expect: /^0:$/,
    run: (k) =>
      h2Session(k, ports.tunnel, alice, (c, raw) => {
        const s = stream(c, `127.0.0.1:${stuck.port}`, 'end');
        setTimeout(() => raw.resetAndDestroy(), 50);
        return s;
      }),
  },
  {
    kind: 'h2 CONNECT: sessionTimeout',
    expect: /^200:\+PONG\r\n 200:\+PONG\r\n$/,
    run: (k) =>
      h2Session(k, ports.shortTunnel, alice, async (c) =>
        (await Promise.all([stream(c, redisAt(), 'hold'), stream(c, redisAt(), 'hold')])).join(' '),
      ),
  },
];

const PER_KIND = 6;
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
 * Live sessions of one certificate on every kind of listener (direct, HTTP/1.1 and HTTP/2 CONNECT
 * with two streams), then the certificate is revoked: a new crl.pem must close every one of them.
 * Returns the servers the face handed those connections to (for their listener counts).
 */
async function revocationRound(victim: { name: string; files: ClientFiles }, face: AccessEndpointFace) {
  const pongs: Promise<void>[] = [];
  const pong = () => {
    let resolve!: () => void;
    pongs.push(new Promise<void>((r) => (resolve = r)));
    return () => resolve();
  };
  const v = victim.files;
  const ready = [pong(), pong(), pong(), pong()];
  const sessions = [
    tlsSession('revoked: direct', ports.directRedis, v, exchange('PING\r\n', PONG, ready[0]!)),
    tlsSession(
      'revoked: h1 CONNECT',
      ports.tunnel,
      v,
      connect(redisAt(), exchange('PING\r\n', PONG, ready[1]!)),
      {
        alpn: ['http/1.1'],
      },
    ),
    h2Session('revoked: h2 CONNECT', ports.tunnel, v, async (c) =>
      (
        await Promise.all([stream(c, redisAt(), 'hold', ready[2]), stream(c, redisAt(), 'hold', ready[3])])
      ).join(' '),
    ),
  ];
  const ended = Promise.all(sessions);
  const allUp = await Promise.race([Promise.all(pongs).then(() => true), ended.then(() => false)]);
  assert.ok(allUp, 'every session of the certificate was up before the revocation');
  const mine = face.connections().filter((c) => c.identity.commonName === victim.name);
  assert.equal(mine.length, 3, 'three live verified connections of the certificate');
  const servers = new Set(mine.map((c) => (c.socket as tls.TLSSocket & { server: net.Server }).server));
  await pki.revoke(victim.name);
  const outcomes = await ended;
  assert.deepEqual(
    outcomes.filter((o) => o.hung || !o.read.includes('+PONG')),
    [],
    'the revocation closed every live session of the certificate',
  );
  const closed = events.filter(
    (e) => e.event === 'closed' && e.commonName === victim.name && e.reason === 'revoked',
  ).length;
  assert.equal(closed, 4, 'four target sessions closed with reason revoked');
  return [...servers];
}

test(`access endpoint: ${SESSIONS} sessions and revocations leave no socket, timer, session or listener behind`, async () => {
  const warnings = watchListenerWarnings();
  let runtime: Runtime | undefined;
  const figures = async (): Promise<Counts> => ({
    sessions: runtime?.sessions.size ?? 0,
    'live verified connections': runtime ? accessFace(runtime).connections().length : 0,
    listening: runtime?.listening().length ?? 0,
    'redis connected_clients': await redisClients(redis.port),
    'hangup target connections': await new Promise<number>((r, j) =>
      hangup.getConnections((err, n) => (err ? j(err) : r(n))),
    ),
    ...listenerCounts(process, 'process.'),
  });
  try {
    // A first runtime, sessions of each kind and a revocation: what the process creates once (the
    // DNS channel, parser pools, the TLS and HTTP/2 machinery) is in the baseline; what every run
    // leaves is not.
    runtime = await startRuntime();
    checkOutcomes(await runSessions(KINDS.length));
    await revocationRound(victims[0]!, accessFace(runtime));
    await runtime.shutdown(0);
    runtime = undefined;
    const idle = await measure(figures);

    runtime = await startRuntime();
    const face = accessFace(runtime);
    const started = await measure(figures);
    assert.equal(started.extra.listening, Object.keys(ports).length);
    const rt = runtime;
    const ours = new Set(Object.values(ports));
    const isOurs = (s: net.Server) => ours.has((s.address() as net.AddressInfo | null)?.port ?? -1);

    events.length = 0;
    const first = await runSessions(SESSIONS / 2);
    const handedTo = await revocationRound(victims[1]!, face);
    // What one connection adds to a listener it must take off, so twice the sessions show the same
    // counts: the runtime's listeners (found through the sockets they accepted), the TLS servers the
    // face hands each accepted socket to, and the tunnel's HTTP/1.1 server (a TLS socket's `server`
    // once that server has it).
    const serverListeners = () => [
      ...acceptingServers(isOurs).map((s) => listenerCounts(s)),
      ...handedTo.map((s) => listenerCounts(s)),
    ];
    const before = serverListeners();
    const second = await runSessions(SESSIONS / 2);
    await revocationRound(victims[2]!, face);
    checkOutcomes([...first, ...second]);
    assert.equal(acceptingServers(isOurs).length, Object.keys(ports).length, 'every listener accepted');
    assert.deepEqual(serverListeners(), before, 'listener counts did not grow with the sessions');

    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.warnings, [], 'no MaxListenersExceededWarning on any emitter');

    // Every session and connection has ended once the registry and the face are empty.
    const left = await waitUntil(
      () => ({ sessions: rt.sessions.list(), connections: face.connections().length }),
      (l) => l.sessions.length === 0 && l.connections === 0,
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(left, { sessions: [], connections: 0 }, 'no session or verified connection left');

    // The run did what it says. A client that resets at once may be refused as addressless by
    // the security group, and one that leaves mid-dial may leave before the dial starts: those
    // counts are lower bounds.
    const tally = (event: string, ...reasons: string[]) =>
      events.filter((e) => e.event === event && reasons.includes(String(e.reason))).length;
    const per = SESSIONS / KINDS.length;
    assert.ok(tally('denied', 'no_ingress_rule_matched') >= per * 2, 'security-group refusals');
    assert.equal(tally('denied', 'no_certificate'), per * 3, 'clients without a certificate');
    assert.equal(tally('denied', 'unknown_ca'), per * 2, 'certificates of another CA');
    assert.equal(
      tally('denied', 'revoked'),
      per * 2,
      'revoked certificates refused (eve, direct and tunnel)',
    );
    assert.ok(tally('denied', 'handshake_failed') >= per * 4, 'failed handshakes');
    assert.equal(tally('denied', 'handshake_timeout'), 0, 'no handshake waited for its timeout');
    assert.equal(tally('denied', 'no_authorization_rule_matched'), per * 4, 'targets no rule covers');
    assert.equal(tally('denied', 'not_in_authorized_group'), per, 'groups not authorized');
    assert.equal(tally('dial_failed', 'GH_ERR_DIAL_REFUSED'), per * 3, 'refused dials');
    assert.ok(tally('dial_failed', 'GH_ERR_DIAL_TIMEOUT') >= per * 3, 'timed-out dials');
    assert.equal(tally('closed', 'session_timeout'), per * 4, 'sessions past sessionTimeout');
    assert.equal(tally('closed', 'revoked'), 8, 'sessions closed by a new CRL (two rounds of four)');
    assert.equal(tally('closed', 'client_closed', 'client_error'), per * 11, 'sessions the client ended');
    assert.equal(tally('closed', 'target_closed'), per * 6, 'sessions the target ended');

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

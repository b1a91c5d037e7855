// The egress proxy's fast front (src/faces/egress/fast-front.ts) with a real daemon, raw client
// sockets and origins on loopback that the test controls. The front serves bodiless absolute-form
// GET/HEAD and CONNECT on the raw socket and hands anything else, with the bytes already read, to
// Node's HTTP server for the rest of the connection; these tests hold one keep-alive socket across
// both paths and read every response byte by byte, so a framing slip shows as a misread response.
//
// Which path answered is visible on the wire: Node's ServerResponse announces keep-alive with a
// `Keep-Alive: timeout=…` header, the front's RawResponse never sends one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter, once } from 'node:events';
import { freePort, run } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { serveFast } from '../../src/faces/egress/fast-front.js';

let gh: Gatehouse;
let dir: string | undefined;
let origin: http.Server;
let originPort: number;
/** An origin that answers close-delimited (no length, no chunking), as HTTP/1.0 servers do. */
let closer: net.Server;
let closerPort: number;
let proxyPort: number;
/** The same front with Basic auth (bcrypt: verification is slow and asynchronous). */
let authedPort: number;
/** Every request the origin saw, in order, with its body. */
const hits: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
const hitEvents = new EventEmitter();

/**
 * bcrypt of "pw-alice" and "pw-bob" at cost 12 (one verification each: successes are remembered): bcryptjs verifies it in 100 ms slices with the event loop free
 * in between, which holds a CONNECT in its decision long enough for the client's next bytes to land.
 */
const USERS = [
  'alice:$2b$12$5O7k6ucYmMTof3vE.Al9ReoZuS/1BRLprwGFaYFAeiU9sp1y3PNIS',
  'bob:$2b$12$UBkEi5zOi0ZSl1YuIR/eEeKXfh2KGPnz1yK.K26vEnQZESmbXU.LG',
];

const CLOSE_BODY = Buffer.from('close-delimited '.repeat(6000)); // ~96 KB, several reads

/** A body of n bytes that shows truncation and reordering. */
function pattern(n: number, seed = 0): string {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `${(seed + i) % 10}`;
  return s.slice(0, n);
}

function startOrigin(): Promise<void> {
  origin = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('latin1');
      hits.push({ method: req.method ?? '', url, body, headers: req.headers });
      hitEvents.emit('hit');
      let m: RegExpExecArray | null;
      if ((m = /^\/len\/(\d+)/.exec(url))) {
        const text = pattern(Number(m[1]), Number(m[1]));
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': text.length, 'X-Path': url });
        res.end(req.method === 'HEAD' ? undefined : text);
      } else if ((m = /^\/status\/(\d+)/.exec(url))) {
        res.writeHead(Number(m[1]), { 'X-Path': url });
        res.end();
      } else if (url.startsWith('/chunked')) {
        // No length: Node frames it chunked, in as many chunks as there are writes.
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Path': url });
        res.write('first-');
        res.write(pattern(20_000, 7));
        res.end('-last');
      } else {
        const text = `method=${req.method} url=${url} bytes=${body.length} body=${body}`;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  return new Promise((r) => origin.listen(0, '127.0.0.1', () => r()));
}

function startCloser(): Promise<void> {
  closer = net.createServer((c) => {
    let head = '';
    c.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      c.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n');
      // Several writes, so the body reaches the proxy in several reads.
      for (let i = 0; i < CLOSE_BODY.length; i += 16_384) c.write(CLOSE_BODY.subarray(i, i + 16_384));
      c.end();
    });
  });
  return new Promise((r) => closer.listen(0, '127.0.0.1', () => r()));
}

before(async () => {
  await startOrigin();
  await startCloser();
  originPort = (origin.address() as net.AddressInfo).port;
  closerPort = (closer.address() as net.AddressInfo).port;
  proxyPort = await freePort();
  authedPort = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-fast-front-'));
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '# loopback origins\n127.0.0.1\n');
  fs.writeFileSync(path.join(dir, 'users'), USERS.join('\n') + '\n');
  gh = await startGatehouse(
    `
egressProxies:
  fast:
    listen: "127.0.0.1:${proxyPort}"
    allowlist: ./allowlist.txt
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: "${originPort}"
  authed:
    listen: "127.0.0.1:${authedPort}"
    allowlist: ./allowlist.txt
    auth: { htpasswd: ./users }
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
    connectPorts: "${originPort}"
admin: { enabled: false }
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop('SIGKILL');
  origin?.closeAllConnections();
  origin?.close();
  closer?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---- a raw client that reads responses exactly as framed ----

interface Reply {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Buffer;
  /** Transfer-Encoding: chunked, decoded into `body`. */
  readonly chunked: boolean;
  header(name: string): string | undefined;
}

class Client {
  private buf: Buffer = Buffer.alloc(0);
  /** The proxy ended or closed the connection. */
  ended = false;
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  static async open(port = proxyPort): Promise<Client> {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    await once(s, 'connect');
    return new Client(s);
  }

  write(text: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(text, (err) => (err ? reject(err) : resolve())),
    );
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Waits for more bytes; throws once the connection is over. */
  private async fill(): Promise<void> {
    if (this.ended)
      throw new Error(
        `the proxy ended the connection; unread: ${JSON.stringify(this.buf.toString('latin1'))}`,
      );
    await new Promise<void>((r) => (this.waiter = r));
  }

  private async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) await this.fill();
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async line(): Promise<string> {
    let at: number;
    while ((at = this.buf.indexOf('\r\n')) < 0) await this.fill();
    return (await this.take(at + 2)).toString('latin1', 0, at);
  }

  /** The next response, its body read as its head frames it (`method` of the request it answers). */
  async response(method = 'GET'): Promise<Reply> {
    const statusLine = await this.line();
    const m = /^HTTP\/1\.1 (\d{3}) .*$/.exec(statusLine);
    assert.ok(m, `status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers: [string, string][] = [];
    for (let l = await this.line(); l !== ''; l = await this.line()) {
      const colon = l.indexOf(':');
      assert.ok(colon > 0, `header line ${JSON.stringify(l)}`);
      headers.push([l.slice(0, colon), l.slice(colon + 1).trim()]);
    }
    const header = (name: string) => {
      const all = headers.filter(([n]) => n.toLowerCase() === name.toLowerCase());
      assert.ok(all.length <= 1, `${name} sent ${all.length} times`);
      return all[0]?.[1];
    };
    const te = header('transfer-encoding');
    const length = header('content-length');
    assert.ok(te === undefined || length === undefined, 'both Content-Length and Transfer-Encoding');
    let body: Buffer = Buffer.alloc(0);
    const chunked = te !== undefined;
    if (
      method === 'HEAD' ||
      (method === 'CONNECT' && status < 300) ||
      status < 200 ||
      status === 204 ||
      status === 304
    ) {
      // No body, whatever the head says.
    } else if (chunked) {
      assert.equal(te.toLowerCase(), 'chunked');
      const parts: Buffer[] = [];
      for (;;) {
        const size = await this.line();
        assert.match(size, /^[0-9a-f]+(;.*)?$/i, 'chunk size line');
        const n = parseInt(size, 16);
        if (n === 0) {
          while ((await this.line()) !== '');
          break;
        }
        parts.push(await this.take(n));
        assert.equal(await this.line(), '', 'CRLF after chunk data');
      }
      body = Buffer.concat(parts);
    } else if (length !== undefined) {
      assert.match(length, /^\d+$/);
      body = await this.take(Number(length));
    } else {
      while (!this.ended) await this.fill().catch(() => {});
      body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    return { status, headers, body, chunked, header };
  }

  /** Resolves when the proxy has ended the connection, having sent nothing more. */
  async closedCleanly(): Promise<void> {
    while (!this.ended) await this.fill();
    assert.equal(this.buf.length, 0, `bytes after the last response: ${this.buf.toString('latin1')}`);
  }

  /** No bytes beyond the responses read so far. */
  assertDrained(): void {
    assert.equal(this.buf.length, 0, `unexpected bytes: ${JSON.stringify(this.buf.toString('latin1'))}`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const url = (p: string, port = originPort) => `http://127.0.0.1:${port}${p}`;
const get = (p: string, extra = '', method = 'GET', port = originPort) =>
  `${method} ${url(p, port)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`;

/** Served by the front (RawResponse) rather than Node's ServerResponse: see the file comment. */
const byFront = (r: Reply) => r.header('keep-alive') === undefined;

function assertLen(r: Reply, n: number): void {
  assert.equal(r.status, 200);
  assert.equal(r.header('content-length'), String(n));
  assert.equal(r.body.toString(), pattern(n, n));
}

/** The origin's next hit (past ones counted by `seen`). */
async function hitAfter(seen: number): Promise<(typeof hits)[number]> {
  while (hits.length <= seen) await once(hitEvents, 'hit');
  return hits[seen]!;
}

test(
  'one keep-alive socket: two GETs, a POST with a body (handed off), then a GET',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      await c.write(get('/len/10'));
      const r1 = await c.response();
      assertLen(r1, 10);
      assert.ok(byFront(r1), 'a bodiless absolute-form GET is served by the front');
      assert.ok(r1.header('date'), 'Date kept or added');
      await c.write(get('/len/300'));
      assertLen(await c.response(), 300);

      const body = 'a=1&b=' + 'x'.repeat(5000);
      const seen = hits.length;
      await c.write(
        `POST ${url('/post')} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      const r3 = await c.response();
      assert.equal(r3.status, 200);
      assert.equal(r3.body.toString(), `method=POST url=/post bytes=${body.length} body=${body}`);
      assert.ok(!byFront(r3), 'the POST went through the hand-off to Node');
      const hit = await hitAfter(seen);
      assert.equal(hit.method, 'POST');
      assert.equal(hit.body, body);

      // The connection now belongs to Node's server: still keep-alive, still correct.
      await c.write(get('/len/42'));
      const r4 = await c.response();
      assertLen(r4, 42);
      assert.ok(!byFront(r4));
      c.assertDrained();
      assert.equal(c.ended, false);
    } finally {
      c.destroy();
    }
  },
);

test('pipelined GETs in one write are answered in order', { timeout: 15_000 }, async () => {
  const c = await Client.open();
  try {
    await c.write(get('/len/1000') + get('/chunked/p') + get('/len/5') + get('/len/70000') + get('/len/1'));
    assertLen(await c.response(), 1000);
    const chunked = await c.response();
    assert.ok(chunked.chunked);
    assert.equal(chunked.header('x-path'), '/chunked/p');
    assert.equal(chunked.body.toString(), `first-${pattern(20_000, 7)}-last`);
    assertLen(await c.response(), 5);
    const big = await c.response();
    assertLen(big, 70000);
    const last = await c.response();
    assertLen(last, 1);
    assert.ok(byFront(last));
    c.assertDrained();
  } finally {
    c.destroy();
  }
});

test(
  'pipelined GET, POST with a body, GET in one write: the hand-off takes the unread bytes',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      const body = 'pipelined-body-' + pattern(3000, 3);
      await c.write(
        get('/len/11') +
          `POST ${url('/post-pipelined')} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
          get('/len/12'),
      );
      const r1 = await c.response();
      assertLen(r1, 11);
      assert.ok(byFront(r1));
      const r2 = await c.response();
      assert.equal(r2.body.toString(), `method=POST url=/post-pipelined bytes=${body.length} body=${body}`);
      assert.ok(!byFront(r2));
      assertLen(await c.response(), 12);
      c.assertDrained();
    } finally {
      c.destroy();
    }
  },
);

test(
  "pipelined past the front's buffer limit (64 KiB): every request answered, in order",
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      const pad = `X-Pad: ${'p'.repeat(900)}\r\n`;
      const n = 100; // ~100 KB of heads behind the first request
      let all = '';
      for (let i = 0; i < n; i++) all += get(`/len/${i + 1}`, pad);
      await c.write(all);
      for (let i = 0; i < n; i++) assertLen(await c.response(), i + 1);
      c.assertDrained();
    } finally {
      c.destroy();
    }
  },
);

test(
  'a client that half-closes after pipelined GETs gets every response, then the end',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      c.socket.end(get('/len/13') + get('/chunked/h') + get('/len/14'));
      assertLen(await c.response(), 13);
      assert.equal((await c.response()).body.toString(), `first-${pattern(20_000, 7)}-last`);
      assertLen(await c.response(), 14);
      await c.closedCleanly();
    } finally {
      c.destroy();
    }
  },
);

test(
  'HEAD keeps Content-Length and sends no body; 204 and 304 send none either',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      await c.write(get('/len/1234', '', 'HEAD'));
      const head = await c.response('HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.header('content-length'), '1234');
      assert.equal(head.header('transfer-encoding'), undefined);
      assert.ok(byFront(head));
      c.assertDrained();
      for (const status of [204, 304]) {
        await c.write(get(`/status/${status}`));
        const r = await c.response();
        assert.equal(r.status, status);
        assert.equal(r.header('transfer-encoding'), undefined, `${status} must not be chunked`);
        assert.equal(r.header('x-path'), `/status/${status}`);
      }
      // Had any of them carried body bytes, this response would be misread.
      await c.write(get('/len/17'));
      assertLen(await c.response(), 17);
      c.assertDrained();
    } finally {
      c.destroy();
    }
  },
);

test(
  'an origin answering chunked: the client gets a well-formed chunked body, decoded equal',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      await c.write(get('/chunked/a'));
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.ok(r.chunked);
      assert.equal(r.header('content-type'), 'text/plain');
      assert.equal(r.body.toString(), `first-${pattern(20_000, 7)}-last`);
      await c.write(get('/len/3'));
      assertLen(await c.response(), 3);
      c.assertDrained();
    } finally {
      c.destroy();
    }
  },
);

test(
  'an origin answering close-delimited: the client gets the whole body chunked, the socket stays',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      await c.write(get('/close', '', 'GET', closerPort));
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.ok(r.chunked, 'no length from the origin: chunked to the client');
      assert.ok(r.header('date'), 'Date added when the origin sent none');
      assert.equal(r.header('connection'), undefined, "the origin's Connection: close is hop-by-hop");
      assert.equal(r.body.length, CLOSE_BODY.length);
      assert.ok(r.body.equals(CLOSE_BODY));
      await c.write(get('/len/8'));
      assertLen(await c.response(), 8);
      c.assertDrained();
    } finally {
      c.destroy();
    }
  },
);

test(
  'Connection: close from the client: the response says so and the socket ends',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      await c.write(get('/len/9'));
      const r1 = await c.response();
      assertLen(r1, 9);
      assert.equal(r1.header('connection'), undefined);
      await c.write(get('/chunked/last', 'Connection: close\r\n'));
      const r2 = await c.response();
      assert.equal(r2.status, 200);
      assert.equal(r2.header('connection'), 'close');
      assert.ok(byFront(r2));
      assert.equal(r2.body.toString(), `first-${pattern(20_000, 7)}-last`);
      await c.closedCleanly();
    } finally {
      c.destroy();
    }
  },
);

test('a head split across two writes is still answered (hand-off)', { timeout: 15_000 }, async () => {
  const c = await Client.open();
  try {
    const text = get('/len/21', 'Accept: */*\r\n');
    const cut = text.indexOf('\r\nAccept') + 5;
    await c.write(text.slice(0, cut));
    // A full round trip on another connection to the same process: the proxy has read the first
    // part before the second is sent, so the front really sees an incomplete head.
    const other = await Client.open();
    await other.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal((await other.response()).status, 200);
    other.destroy();
    await c.write(text.slice(cut));
    const r = await c.response();
    assertLen(r, 21);
    assert.ok(!byFront(r), 'an incomplete head goes to Node');
    await c.write(get('/len/22'));
    assertLen(await c.response(), 22);
    c.assertDrained();
  } finally {
    c.destroy();
  }
});

test(
  'pipelined refusals (answered inside the request call) and GETs in one write: all in order',
  { timeout: 30_000 },
  async () => {
    const denied = (i: number) => `GET http://example.com/d${i} HTTP/1.1\r\nHost: example.com\r\n\r\n`;
    const c = await Client.open();
    try {
      // Hundreds of refusals back to back: each completes synchronously, so the front must loop,
      // not recurse, and must not skip or reorder anything around them.
      let all = get('/len/3');
      for (let i = 0; i < 400; i++) all += denied(i);
      all += get('/len/4') + denied(400) + get('/len/5');
      await c.write(all);
      assertLen(await c.response(), 3);
      for (let i = 0; i < 400; i++) assert.equal((await c.response()).status, 403, `refusal ${i}`);
      assertLen(await c.response(), 4);
      assert.equal((await c.response()).status, 403);
      assertLen(await c.response(), 5);
      c.assertDrained();
      assert.equal(c.ended, false);
    } finally {
      c.destroy();
    }
  },
);

test(
  'a refusal with Connection: close ends the connection; what was pipelined after it is not served',
  {
    timeout: 15_000,
  },
  async () => {
    const c = await Client.open();
    try {
      const seen = hits.length;
      await c.write(
        `GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n` + get('/len/9'),
      );
      const r = await c.response();
      assert.equal(r.status, 403);
      assert.equal(r.header('connection'), 'close');
      await c.closedCleanly();
      assert.equal(hits.length, seen, 'the GET after the last request never reached the origin');
    } finally {
      c.destroy();
    }
  },
);

test(
  'after a Connection: close response, what the client keeps sending is read and dropped',
  {
    timeout: 15_000,
  },
  async () => {
    // The front on its own, with a handler that answers every request: white-box, because "not kept"
    // shows nowhere else (the process's memory is noisy with read buffers waiting for GC).
    const server = net.createServer({ allowHalfOpen: true });
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const [inner] = await accepted;
    let requests = 0;
    const conn = serveFast(inner, {
      maxHeaderSize: () => 65536,
      headersTimeout: () => 0,
      keepAliveTimeout: 0,
      draining: () => false,
      request: (_req, res, done) => {
        requests++;
        res.writeHead(200, 'OK', ['Content-Length', '2']);
        res.write(Buffer.from('ok'));
        res.end();
        done();
      },
      connect: () => assert.fail('no CONNECT here'),
      headTimeout: () => assert.fail('no head timeout here'),
      handOff: () => assert.fail('no hand-off here'),
    });
    try {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.write('GET http://x/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await once(s, 'end');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nConnection: close\r\n/);
      // More requests and junk, without a FIN: all read (no reset, no backpressure), none served.
      let seen = 0;
      const total = 8 * 1024 * 1024;
      const allRead = new Promise<void>((resolve) =>
        inner.on('data', (d: Buffer) => {
          seen += d.length;
          if (seen >= total) resolve();
        }),
      );
      const chunk = Buffer.alloc(64 * 1024, 'x');
      chunk.write('GET http://x/again HTTP/1.1\r\nHost: x\r\n\r\n', 0, 'latin1');
      for (let sent = 0; sent < total; sent += chunk.length) s.write(chunk);
      await allRead;
      assert.equal(requests, 1, 'nothing after the last response is served');
      assert.equal((conn as unknown as { buf?: Buffer }).buf, undefined, 'nothing is kept');
      assert.equal(inner.destroyed, false, 'the connection lingers until the sweep closes it');
    } finally {
      s.destroy();
      server.close();
    }
  },
);

test('a 403 for a host outside the allowlist keeps the connection usable', { timeout: 15_000 }, async () => {
  const c = await Client.open();
  try {
    await c.write(`GET http://example.com/nope HTTP/1.1\r\nHost: example.com\r\n\r\n`);
    const denied = await c.response();
    assert.equal(denied.status, 403);
    assert.equal(denied.header('x-gatehouse-reason'), 'not_in_allowlist');
    assert.match(denied.body.toString(), /ERR_ACCESS_DENIED/);
    assert.notEqual(denied.header('connection'), 'close');
    await c.write(get('/len/30'));
    const r = await c.response();
    assertLen(r, 30);
    assert.ok(byFront(r));
    c.assertDrained();
  } finally {
    c.destroy();
  }
});

test(
  'CONNECT through the front: early data in the same write reaches the origin',
  { timeout: 15_000 },
  async () => {
    const c = await Client.open();
    try {
      const seen = hits.length;
      const inner = `GET /tunnelled?early=1 HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`;
      await c.write(
        `CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n${inner}`,
      );
      const established = await c.response('CONNECT');
      assert.equal(established.status, 200);
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'method=GET url=/tunnelled?early=1 bytes=0 body=');
      const hit = await hitAfter(seen);
      assert.equal(hit.url, '/tunnelled?early=1');
      // The origin closes after Connection: close; the tunnel carries that to the client.
      await c.closedCleanly();
    } finally {
      c.destroy();
    }
  },
);

/**
 * CONNECT, then (once the proxy holds the head and is busy checking the password) the first
 * request for the tunnel in a separate write before the 200, as clients that do not wait for the
 * 200 send it. The origin's first request on the tunnel must be that one.
 */
async function connectWithBytesBeforeThe200(version: string, user: string): Promise<void> {
  const c = await Client.open(authedPort);
  try {
    const seen = hits.length;
    const auth = Buffer.from(`${user}:pw-${user}`).toString('base64');
    await c.write(
      `CONNECT 127.0.0.1:${originPort} ${version}\r\nHost: 127.0.0.1:${originPort}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
    );
    // A round trip on another connection to the same process: the CONNECT head has been read, and
    // the proxy is still in bcrypt (100 ms slices, the loop free between them) when the next
    // bytes arrive.
    const other = await Client.open();
    await other.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal((await other.response()).status, 200);
    other.destroy();
    await c.write(`GET /tunnel/early HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
    const established = await c.response('CONNECT');
    assert.equal(established.status, 200);
    await c.write(`GET /tunnel/after HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`);
    // Had the early request been dropped, the origin's first request on the tunnel is the later one.
    assert.equal((await hitAfter(seen)).url, '/tunnel/early', 'bytes sent before the 200 were lost');
    assert.equal((await c.response()).body.toString(), 'method=GET url=/tunnel/early bytes=0 body=');
    assert.equal((await c.response()).body.toString(), 'method=GET url=/tunnel/after bytes=0 body=');
    await c.closedCleanly();
  } finally {
    c.destroy();
  }
}

test(
  "CONNECT through Node's server (HTTP/1.0, handed off): bytes sent before the 200 are kept",
  { timeout: 15_000 },
  () => connectWithBytesBeforeThe200('HTTP/1.0', 'bob'),
);

test(
  'CONNECT through the front: bytes sent in a later write before the 200 are kept',
  {
    timeout: 15_000,
  },
  () => connectWithBytesBeforeThe200('HTTP/1.1', 'alice'),
);

test('curl with http_proxy: a GET through the front', { timeout: 15_000 }, async () => {
  const env = { ...process.env, http_proxy: `http://127.0.0.1:${proxyPort}`, no_proxy: '' };
  const r = await run('curl', ['-s', '-m', '5', '-D', '-', url('/curl?x=1')], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTP\/1\.1 200 /);
  assert.match(r.stdout, /\r\n\r\nmethod=GET url=\/curl\?x=1 bytes=0 body=$/);
  assert.doesNotMatch(r.stdout, /^Keep-Alive:/im, 'served by the front');
});

test(
  '8 MB bodies through the front reach slow readers intact, twice on one upstream connection',
  { timeout: 30_000 },
  async () => {
    // The upstream side reads into one reused buffer; a client that reads slowly makes writes queue,
    // and a queued write must keep its bytes while later reads arrive.
    const n = 8_000_000;
    const want = pattern(n, n);
    for (let round = 0; round < 2; round++) {
      const s = net.connect(proxyPort, '127.0.0.1');
      await once(s, 'connect');
      s.write(`GET ${url(`/len/${n}`)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        parts.push(d);
        if (parts.length % 4 === 0) {
          s.pause();
          setTimeout(() => s.resume(), 1);
        }
      });
      await once(s, 'end');
      const all = Buffer.concat(parts);
      const split = all.indexOf('\r\n\r\n');
      assert.match(all.subarray(0, split).toString('latin1'), /^HTTP\/1\.1 200 /);
      const body = all.subarray(split + 4).toString('latin1');
      assert.equal(body.length, n);
      assert.ok(body === want, 'the body differs from what the origin sent');
    }
  },
);

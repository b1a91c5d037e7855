// The strict request-head reader of the egress fast front (src/protocols/http-request-head.ts):
// a fixture table for each accept and fallback rule, a seeded fuzz (mutated heads and random bytes)
// checking that nothing throws and every accepted head is well formed and re-serialises to itself,
// and a differential run against Node's own parser (llhttp behind http.createServer): every head
// this reader accepts must be accepted by Node with the same method, url and rawHeaders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { parseRequestHead, type RequestHead } from '../../src/protocols/http-request-head.js';
import { prng, type Rng } from '../helpers/prng.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const MAX = 16 * 1024;

function accepted(text: string | Buffer, max = MAX): { head: RequestHead; consumed: number } {
  const r = parseRequestHead(typeof text === 'string' ? b(text) : text, max);
  assert.ok('head' in r, `expected a head for ${JSON.stringify(String(text))}, got ${JSON.stringify(r)}`);
  return r;
}

function fellBack(text: string, max = MAX): string {
  const r = parseRequestHead(b(text), max);
  assert.ok('fallback' in r, `expected fallback for ${JSON.stringify(text)}, got ${JSON.stringify(r)}`);
  return r.fallback;
}

const GET = 'GET http://a.example/x?y=1 HTTP/1.1\r\n';
const withHeaders = (...lines: string[]) => GET + lines.map((l) => `${l}\r\n`).join('') + '\r\n';

test('request head: the plain cases are read, method, target and headers as sent', () => {
  const text = `${GET}Host: a.example\r\nAccept: */*\r\nX-Mixed-CASE: v\r\n\r\n`;
  const r = accepted(text);
  assert.deepEqual(r.head, {
    method: 'GET',
    target: 'http://a.example/x?y=1',
    rawHeaders: ['Host', 'a.example', 'Accept', '*/*', 'X-Mixed-CASE', 'v'],
    keepAlive: true,
    proxyAuthorization: undefined,
  });
  assert.equal(r.consumed, text.length);

  const cases: [string, string, string, string[]][] = [
    ['HEAD http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 'HEAD', 'http://a/', ['Host', 'a']],
    [
      'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n',
      'CONNECT',
      'a.example:443',
      ['Host', 'a.example:443'],
    ],
    ['CONNECT [::1]:8443 HTTP/1.1\r\n\r\n', 'CONNECT', '[::1]:8443', []],
    ['GET http://a/ HTTP/1.1\r\n\r\n', 'GET', 'http://a/', []],
    ['GET /healthz HTTP/1.1\r\n\r\n', 'GET', '/healthz', []],
    ['OPTIONS * HTTP/1.1\r\n\r\n', 'OPTIONS', '*', []],
    ["DELETE http://a/~x!$&'()*+,;=:@%20 HTTP/1.1\r\n\r\n", 'DELETE', "http://a/~x!$&'()*+,;=:@%20", []],
    // Values lose surrounding spaces and tabs, keep inner ones, and may be empty.
    [withHeaders('X:  \t a \t b \t '), 'GET', 'http://a.example/x?y=1', ['X', 'a \t b']],
    [withHeaders('X:'), 'GET', 'http://a.example/x?y=1', ['X', '']],
    [withHeaders('X: \t '), 'GET', 'http://a.example/x?y=1', ['X', '']],
    [withHeaders('X:a:b'), 'GET', 'http://a.example/x?y=1', ['X', 'a:b']],
    // obs-text (8-bit bytes) in a value is legal HTTP and read as latin1, as Node reads it.
    [withHeaders('X: caf\xe9 \x80\xff'), 'GET', 'http://a.example/x?y=1', ['X', 'caf\xe9 \x80\xff']],
    [withHeaders("!#$%&'*+-.^_`|~09Az: t"), 'GET', 'http://a.example/x?y=1', ["!#$%&'*+-.^_`|~09Az", 't']],
    // The only body framing accepted: an explicit empty one.
    [withHeaders('Content-Length: 0'), 'GET', 'http://a.example/x?y=1', ['Content-Length', '0']],
    [withHeaders('content-length:  0 '), 'GET', 'http://a.example/x?y=1', ['content-length', '0']],
    // Duplicates other than the two refused ones are kept in order.
    [withHeaders('A: 1', 'a: 2', 'A: 3'), 'GET', 'http://a.example/x?y=1', ['A', '1', 'a', '2', 'A', '3']],
  ];
  for (const [text, method, target, raw] of cases) {
    const r = accepted(text);
    assert.equal(r.head.method, method, text);
    assert.equal(r.head.target, target, text);
    assert.deepEqual(r.head.rawHeaders, raw, text);
    assert.equal(r.consumed, text.length, text);
  }
});

test('request head: keepAlive is false exactly when Connection lists close', () => {
  const cases: [string, boolean][] = [
    ['Connection: close', false],
    ['connection: CLOSE', false],
    ['Connection: keep-alive, close', false],
    ['Connection: foo ,\tClose\t, bar', false],
    ['Connection: keep-alive', true],
    ['Connection: closed', true],
    ['Connection: "close"', true],
    ['Proxy-Connection: close', true],
    ['X-Connection: close', true],
  ];
  for (const [line, keepAlive] of cases)
    assert.equal(accepted(withHeaders(line)).head.keepAlive, keepAlive, line);
  assert.equal(accepted(withHeaders('Connection: keep-alive', 'Connection: close')).head.keepAlive, false);
  assert.equal(accepted(withHeaders('Host: a')).head.keepAlive, true);
});

test('request head: Proxy-Authorization is read once, trimmed; a second one falls back', () => {
  assert.equal(
    accepted(withHeaders('Proxy-Authorization:  Basic YTpi \t')).head.proxyAuthorization,
    'Basic YTpi',
  );
  assert.equal(accepted(withHeaders('proxy-authorization: Bearer t')).head.proxyAuthorization, 'Bearer t');
  assert.equal(accepted(withHeaders('Authorization: Basic x')).head.proxyAuthorization, undefined);
  const twice = accepted(withHeaders('Proxy-Authorization: Basic YTpi', 'Host: a'));
  assert.deepEqual(twice.head.rawHeaders, ['Proxy-Authorization', 'Basic YTpi', 'Host', 'a']);
  fellBack(withHeaders('Proxy-Authorization: Basic a', 'PROXY-AUTHORIZATION: Basic a'));
  fellBack(withHeaders('Proxy-Authorization: Basic a', 'Proxy-Authorization:'));
});

test('request head: consumed stops at the blank line; pipelined bytes are left for the next read', () => {
  const first = 'GET http://a/1 HTTP/1.1\r\nHost: a\r\n\r\n';
  const second = 'HEAD http://a/2 HTTP/1.1\r\n\r\n';
  const buf = b(first + second + 'GET http://a/3 HT');
  const r1 = accepted(buf);
  assert.equal(r1.consumed, first.length);
  assert.equal(r1.head.target, 'http://a/1');
  const r2 = accepted(buf.subarray(r1.consumed));
  assert.equal(r2.consumed, second.length);
  assert.equal(r2.head.method, 'HEAD');
  assert.deepEqual(parseRequestHead(buf.subarray(r1.consumed + r2.consumed), MAX), { need: true });
  // Whatever follows (a CONNECT's early data, garbage) is not the head's business.
  const c = 'CONNECT a:443 HTTP/1.1\r\n\r\n';
  assert.equal(accepted(c + '\x16\x03\x01\x00\xff\r\n\r\n').consumed, c.length);
});

test('request head: every proper prefix of a head needs more, never a verdict', () => {
  const text =
    'GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic x\r\nContent-Length: 0\r\n\r\n';
  assert.deepEqual(parseRequestHead(Buffer.alloc(0), MAX), { need: true });
  for (let n = 1; n < text.length; n++)
    assert.deepEqual(parseRequestHead(b(text.slice(0, n)), MAX), { need: true }, `prefix ${n}`);
  assert.equal(accepted(text).consumed, text.length);
});

test('request head: maxSize bounds the head, complete or not', () => {
  const text = 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n';
  assert.equal(accepted(text, text.length).consumed, text.length);
  assert.equal(fellBack(text, text.length - 1), 'head too large');
  // Pipelined bytes beyond the head do not count against it.
  assert.equal(accepted(text + 'x'.repeat(100), text.length).consumed, text.length);
  const partial = 'GET http://a/ HTTP/1.1\r\nX: ' + 'y'.repeat(100);
  assert.deepEqual(parseRequestHead(b(partial), partial.length), { need: true });
  assert.equal(fellBack(partial, partial.length - 1), 'head too large');
});

test('request head: anything but plain HTTP/1.1 falls back to the full parser', () => {
  const lines = [
    // Versions and request-line shape.
    'GET http://a/ HTTP/1.0\r\n\r\n',
    'GET http://a/ HTTP/1.2\r\n\r\n',
    'GET http://a/ HTTP/2.0\r\n\r\n',
    'GET http://a/ http/1.1\r\n\r\n',
    'GET http://a/ HTTP/1.1 \r\n\r\n',
    'GET http://a/\r\n\r\n',
    'GET\r\n\r\n',
    'GET HTTP/1.1\r\n\r\n',
    'GET  http://a/ HTTP/1.1\r\n\r\n',
    'GET http://a/  HTTP/1.1\r\n\r\n',
    ' GET http://a/ HTTP/1.1\r\n\r\n',
    'GET\thttp://a/ HTTP/1.1\r\n\r\n',
    'GET http://a/\tHTTP/1.1\r\n\r\n',
    '\r\nGET http://a/ HTTP/1.1\r\n\r\n',
    // Method not a token.
    'G(T http://a/ HTTP/1.1\r\n\r\n',
    'G\x00T http://a/ HTTP/1.1\r\n\r\n',
    'G\xc9T http://a/ HTTP/1.1\r\n\r\n',
    // Target: controls, DEL, 8-bit.
    'GET http://a/\x01 HTTP/1.1\r\n\r\n',
    'GET http://a/\x7f HTTP/1.1\r\n\r\n',
    'GET http://a/caf\xe9 HTTP/1.1\r\n\r\n',
    'GET http://a/\xff HTTP/1.1\r\n\r\n',
    // Bare LF or CR as a line break, anywhere.
    'GET http://a/ HTTP/1.1\nHost: a\r\n\r\n',
    withHeaders('Host: a\nX: b'),
    withHeaders('Host: a\rX: b'),
    'GET http://a/ HTTP/1.1\r\nHost: a\r\n\n\r\n\r\n',
    'GET http://a/ HTTP/1.1\r\nHost: a\n\r\n\r\n',
    // obs-fold and whitespace before a name.
    withHeaders('X: a', ' folded'),
    withHeaders('X: a', '\tfolded'),
    withHeaders(' X: a'),
    withHeaders('X : a'),
    withHeaders('X\t: a'),
    // Not a header line.
    withHeaders('no colon'),
    withHeaders(': empty name'),
    withHeaders('X(y): a'),
    withHeaders('X\xe9: a'),
    withHeaders('X\x00: a'),
    // Control characters in a value.
    withHeaders('X: a\x00b'),
    withHeaders('X: a\x01'),
    withHeaders('X: \x1f'),
    withHeaders('X: a\x7fb'),
    withHeaders('X: a\x0bb'),
    // Body framing other than an explicit empty one; interim or protocol-switching requests.
    withHeaders('Content-Length: 5'),
    withHeaders('Content-Length: 00'),
    withHeaders('Content-Length: +0'),
    withHeaders('Content-Length: 0, 0'),
    withHeaders('Content-Length:'),
    withHeaders('Content-Length: 0', 'content-length: 0'),
    withHeaders('Transfer-Encoding: chunked'),
    withHeaders('transfer-encoding: identity'),
    withHeaders('Content-Length: 0', 'Transfer-Encoding: chunked'),
    withHeaders('Upgrade: websocket', 'Connection: Upgrade'),
    withHeaders('upgrade:'),
    withHeaders('Expect: 100-continue'),
    withHeaders('EXPECT: x'),
  ];
  for (const text of lines) fellBack(text);
  // A head with only bare LFs never completes here: it is not accepted (the front hands it off).
  assert.ok(!('head' in parseRequestHead(b('GET http://a/ HTTP/1.1\nHost: a\n\n'), MAX)));
});

test('request head: 100 headers are read, the 101st falls back', () => {
  const names = Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}`);
  assert.equal(accepted(withHeaders(...names.slice(0, 100))).head.rawHeaders.length, 200);
  assert.equal(fellBack(withHeaders(...names)), 'too many headers');
});

// ---- fuzzing ----

const CORPUS = [
  'GET http://127.0.0.1:8080/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n',
  'HEAD http://a.example/ HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n',
  'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nProxy-Authorization: Basic YWxpY2U6cHctMA==\r\n\r\n',
  'GET http://a.example/p HTTP/1.1\r\nhost: a.example\r\ncontent-length: 0\r\nx-empty:\r\nx-tabs:\t v \t\r\n\r\n',
  'GET /healthz HTTP/1.1\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\nAccept-Language: en;q=0.9, fr\r\n\r\n',
].map(b);

/** Bytes that sit on the reader's decision boundaries. */
const SPECIAL = [0x20, 0x09, 0x0d, 0x0a, 0x3a, 0x00, 0x7f, 0x80, 0xff, 0x2c, 0x22, 0x28, 0x41, 0x61, 0x2f];
const SNIPPETS = [
  '\r\n',
  '\r\n\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  'Content-Length: 0\r\n',
  'Content-Length: 1\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Connection: close\r\n',
  'Upgrade: h2c\r\n',
  'Expect: 100-continue\r\n',
  'Proxy-Authorization: Basic x\r\n',
  'X-A: b\r\n',
  ' HTTP/1.0',
  'HTTP/1.1',
  'é',
].map(b);

function mutate(rng: Rng, src: Buffer): Buffer {
  let buf = Buffer.from(src);
  const rounds = 1 + rng.int(4);
  for (let i = 0; i < rounds; i++) {
    const at = rng.int(buf.length + 1);
    switch (rng.int(6)) {
      case 0: // replace one byte with anything
        if (buf.length > 0) buf[Math.min(at, buf.length - 1)] = rng.int(256);
        break;
      case 1: // replace one byte with a boundary byte
        if (buf.length > 0) buf[Math.min(at, buf.length - 1)] = rng.pick(SPECIAL);
        break;
      case 2: // insert a boundary byte or a random one
        buf = Buffer.concat([
          buf.subarray(0, at),
          Buffer.of(rng.next() < 0.7 ? rng.pick(SPECIAL) : rng.int(256)),
          buf.subarray(at),
        ]);
        break;
      case 3: // delete a run
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + rng.int(4))]);
        break;
      case 4: // insert a snippet
        buf = Buffer.concat([buf.subarray(0, at), rng.pick(SNIPPETS), buf.subarray(at)]);
        break;
      default: {
        // duplicate a slice elsewhere
        const from = rng.int(buf.length);
        const slice = buf.subarray(from, from + 1 + rng.int(24));
        buf = Buffer.concat([buf.subarray(0, at), slice, buf.subarray(at)]);
      }
    }
  }
  return buf;
}

function randomBytes(rng: Rng): Buffer {
  const n = rng.int(200);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() < 0.5 ? rng.pick(SPECIAL) : rng.int(256);
  // Often give it an end of head, so the line readers run.
  return rng.next() < 0.6 ? Buffer.concat([out, b('\r\n\r\n')]) : out;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function serialise(h: RequestHead): Buffer {
  let text = `${h.method} ${h.target} HTTP/1.1\r\n`;
  for (let i = 0; i < h.rawHeaders.length; i += 2) text += `${h.rawHeaders[i]}: ${h.rawHeaders[i + 1]}\r\n`;
  return b(text + '\r\n');
}

function checkAccepted(input: Buffer, head: RequestHead, consumed: number, max: number): void {
  const where = JSON.stringify(input.toString('latin1'));
  assert.match(head.method, TOKEN, where);
  assert.match(head.target, /^[\x21-\x7e]+$/, where);
  assert.equal(head.rawHeaders.length % 2, 0, where);
  for (let i = 0; i < head.rawHeaders.length; i += 2) {
    assert.match(head.rawHeaders[i]!, TOKEN, where);
    const value = head.rawHeaders[i + 1]!;
    assert.doesNotMatch(value, /[\r\n\0]/, where);
    assert.doesNotMatch(value, /^[ \t]|[ \t]$/, where);
  }
  assert.ok(consumed <= input.length && consumed <= max, where);
  assert.equal(input.toString('latin1', consumed - 4, consumed), '\r\n\r\n', where);
  const again = serialise(head);
  const r = parseRequestHead(again, again.length);
  assert.ok(
    'head' in r,
    `${where} re-serialised as ${JSON.stringify(again.toString('latin1'))}: ${JSON.stringify(r)}`,
  );
  assert.deepEqual(r.head, head, where);
  assert.equal(r.consumed, again.length, where);
}

test('request head fuzz: mutated heads and random bytes never throw; accepted heads are well formed', () => {
  const rng = prng(0x6a7e);
  let heads = 0;
  let fallbacks = 0;
  let needs = 0;
  for (let i = 0; i < 5000; i++) {
    const input = i % 5 === 4 ? randomBytes(rng) : mutate(rng, rng.pick(CORPUS));
    const max = rng.next() < 0.1 ? rng.int(input.length + 8) : MAX;
    const r = parseRequestHead(input, max);
    if ('head' in r) {
      heads++;
      checkAccepted(input, r.head, r.consumed, max);
    } else if ('fallback' in r) {
      fallbacks++;
      assert.equal(typeof r.fallback, 'string');
    } else {
      needs++;
      assert.equal(r.need, true);
      assert.equal(input.includes('\r\n\r\n'), false, JSON.stringify(input.toString('latin1')));
    }
  }
  // The fuzz must reach every verdict, or it is not exercising the reader.
  assert.ok(
    heads > 500 && fallbacks > 500 && needs > 50,
    `heads ${heads}, fallbacks ${fallbacks}, needs ${needs}`,
  );
});

// ---- differential against Node's parser ----

interface Seen {
  readonly method?: string;
  readonly url?: string;
  readonly rawHeaders?: string[];
  readonly error?: string;
}

/** An http.Server configured as the egress proxy configures its own, reporting what it parsed. */
async function nodeParser(): Promise<{ parse(bytes: Buffer): Promise<Seen>; close(): Promise<void> }> {
  let report: ((s: Seen) => void) | undefined;
  const say = (s: Seen) => {
    const r = report;
    report = undefined;
    r?.(s);
  };
  const server = http.createServer({
    requireHostHeader: false,
    maxHeaderSize: MAX,
    insecureHTTPParser: false,
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    say({ method: req.method, url: req.url, rawHeaders: req.rawHeaders });
    res.writeHead(204, { Connection: 'close' }).end();
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
    say({ method: req.method, url: req.url, rawHeaders: req.rawHeaders });
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    say({ error: `${err.code}: ${err.message}` });
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    parse: (bytes) =>
      new Promise<Seen>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        const timer = setTimeout(() => say({ error: 'Node neither parsed nor refused it within 2 s' }), 2000);
        report = (seen) => {
          clearTimeout(timer);
          s.destroy();
          resolve(seen);
        };
        s.on('error', () => {});
        s.on('connect', () => s.write(bytes));
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Where the reader is known to be wider than llhttp (see the todo test below): a method llhttp does
 * not know, a target form other than origin-, asterisk-, absolute-http- or authority-form, or an
 * authority (absolute-form host, CONNECT target) holding a character llhttp's URL parser refuses.
 * For those, Node may refuse the head, but must never read it differently.
 */
function knownGap(h: RequestHead): string | undefined {
  if (!http.METHODS.includes(h.method)) return 'method llhttp does not know';
  let authority = h.target;
  if (h.method !== 'CONNECT') {
    if (h.target.startsWith('/') || h.target === '*') return undefined;
    if (!/^http:\/\//i.test(h.target)) return 'target form';
    authority = h.target.slice(7).split(/[/?]/)[0]!;
  }
  return /["#<>\\^`{|}]/.test(authority) ? 'authority character llhttp refuses' : undefined;
}

test('request head differential: Node parses every accepted head the same way', async (t) => {
  const node = await nodeParser();
  t.after(() => node.close());
  const rng = prng(0xd1ff);
  const heads: Buffer[] = [];
  for (let i = 0; heads.length < 300 && i < 20_000; i++) {
    const input = mutate(rng, rng.pick(CORPUS));
    const r = parseRequestHead(input, MAX);
    // The exact head bytes: whatever a mutation left after the blank line is the next request's.
    if ('head' in r) heads.push(input.subarray(0, r.consumed));
  }
  assert.equal(heads.length, 300);
  const gaps: string[] = [];
  for (const bytes of [...CORPUS, ...heads]) {
    const r = parseRequestHead(bytes, MAX);
    assert.ok('head' in r);
    const seen = await node.parse(bytes);
    const where = JSON.stringify(bytes.toString('latin1'));
    const gap = knownGap(r.head);
    if (gap !== undefined && seen.error !== undefined) {
      gaps.push(`${gap}: ${where} (${seen.error})`);
      continue;
    }
    assert.deepEqual(
      seen,
      { method: r.head.method, url: r.head.target, rawHeaders: r.head.rawHeaders },
      `Node read ${where} differently`,
    );
  }
  t.diagnostic(`${heads.length + CORPUS.length} heads; Node refused ${gaps.length} in known gaps`);
  for (const line of gaps.slice(0, 5)) t.diagnostic(line);
});

test(
  'request head: methods and targets llhttp refuses fall back (known gap: the reader accepts them)',
  {},
  async (t) => {
    const node = await nodeParser();
    t.after(() => node.close());
    const refused: string[] = [];
    for (const text of [
      'FOO http://a/ HTTP/1.1\r\n\r\n',
      'get http://a/ HTTP/1.1\r\n\r\n',
      'GET abc HTTP/1.1\r\n\r\n',
      'GET ? HTTP/1.1\r\n\r\n',
      'GET ht!tp://a/ HTTP/1.1\r\n\r\n',
      // These two the fast front serves itself rather than handing them to Node.
      'GET http://a<b/ HTTP/1.1\r\n\r\n',
      'CONNECT a"b:443 HTTP/1.1\r\n\r\n',
    ]) {
      const seen = await node.parse(b(text));
      assert.ok(seen.error !== undefined, `Node accepts ${JSON.stringify(text)}: this case is stale`);
      if (!('fallback' in parseRequestHead(b(text), MAX))) refused.push(JSON.stringify(text));
    }
    assert.deepEqual(refused, [], 'accepted here, refused by llhttp');
  },
);

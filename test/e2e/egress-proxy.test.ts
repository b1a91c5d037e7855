// The egress proxy with real clients (curl with http_proxy/https_proxy, undici's ProxyAgent, raw
// sockets for Upgrade and slow headers) against origin servers on loopback. Loopback is a private
// destination, so these proxies carry unsafeAllowPrivateDestinations for 127.0.0.0/8, except
// `guarded`, which shows the guard holding on the same host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter, once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { createHash as cryptoHash } from 'node:crypto';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { freePort, run } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { curlVia } from '../helpers/egress-lab.js';

let origin: http.Server;
let originPort: number;
let gh: Gatehouse;
let dir: string;
const ports = { open: 0, team: 0, report: 0, guarded: 0, fenced: 0, bynet: 0, stall: 0, patient: 0 };
/** Origin sockets by remote port, to see when the proxy closes its pooled connections. */
const originSockets = new Map<number, net.Socket>();
let release: (() => void) | undefined;
const held: (() => void)[] = [];
const heldEvents = new EventEmitter();

const haveHtpasswd = (() => {
  try {
    execFileSync('htpasswd', ['-nbs', 'x', 'y'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function startOrigin(): Promise<void> {
  origin = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/stream')) {
      // First chunk now, the rest when the test says so: a proxy that buffers shows here.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first\n');
      release = () => res.end('last\n');
      return;
    }
    if (url.startsWith('/never')) return; // an origin that never answers
    if (url.startsWith('/delay')) {
      setTimeout(() => res.end('late\n'), 2500);
      return;
    }
    if (url.startsWith('/hold')) {
      held.push(() => res.end('held-done\n'));
      heldEvents.emit('held');
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('held-start\n');
      return;
    }
    let n = 0;
    const h = createHash();
    req.on('data', (c: Buffer) => {
      n += c.length;
      h.update(c);
    });
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Seen-Host': req.headers.host ?? '' });
      // chunked response (no content-length)
      res.write(`method=${req.method} url=${url} bytes=${n} sum=${h.digest()} `);
      res.end(`proxy-auth=${req.headers['proxy-authorization'] ?? 'none'} via=${req.headers.via ?? ''}\n`);
    });
  });
  origin.on('connection', (socket: net.Socket) => {
    originSockets.set(socket.remotePort!, socket);
    socket.once('close', () => originSockets.delete(socket.remotePort!));
  });
  origin.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(Buffer.from(d.toString().toUpperCase())));
    // An upgraded socket is half-open in Node; end our side when the client ends theirs, as a
    // WebSocket server does (the proxy relays half-close faithfully).
    socket.on('end', () => socket.end());
  });
  return new Promise((r) => origin.listen(0, '127.0.0.1', () => r()));
}

function createHashSha1(password: string): string {
  return cryptoHash('sha1').update(password).digest('base64');
}

function createHash() {
  let sum = 0;
  return {
    update(b: Buffer) {
      for (const x of b) sum = (sum + x) % 65521;
    },
    digest: () => sum,
  };
}

before(async () => {
  await startOrigin();
  originPort = (origin.address() as net.AddressInfo).port;
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-egress-'));
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '# loopback origin\n127.0.0.1\n');
  fs.writeFileSync(path.join(dir, 'alpha.txt'), 'localhost\n');
  fs.writeFileSync(path.join(dir, 'empty.txt'), '# nothing\n');
  const users = haveHtpasswd
    ? ['-B', '-m', '-s']
        .map((f, i) =>
          execFileSync('htpasswd', ['-nb', f, ['alice', 'bob', 'carol'][i]!, 'pw-' + i])
            .toString()
            .trim(),
        )
        .join('\n')
    : 'carol:{SHA}' + Buffer.from('x').toString('base64');
  fs.writeFileSync(path.join(dir, 'users'), users + '\n');
  const loop = `unsafeAllowPrivateDestinations: ["127.0.0.0/8", "::1/128"]`;
  gh = await startGatehouse(
    `
securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: "all", source: "127.0.0.0/8" }
  office:
    ingress:
      - { protocol: tcp, ports: "all", source: "198.51.100.0/24" }
egressProxies:
  open:
    listen: "127.0.0.1:${ports.open}"
    securityGroups: [local]
    allowlist: ./allowlist.txt
    ${loop}
    connectPorts: "443,${originPort}"
    headersTimeout: 600ms
    maxHeaderSize: 4096
    accessLog: ./access.log
  team:
    listen: "127.0.0.1:${ports.team}"
    allowlist: ./allowlist.txt
    auth: { htpasswd: ./users, realm: egress }
    policies:
      - { name: alpha, users: [alice], allowlist: ./alpha.txt }
    ${loop}
    accessLog: { path: ./team.json, format: json }
  report:
    listen: "127.0.0.1:${ports.report}"
    allowlist: ./empty.txt
    reportOnly: true
    ${loop}
  guarded:
    listen: "127.0.0.1:${ports.guarded}"
    allowlist: ./allowlist.txt
    connectPorts: "${originPort}"
  bynet:
    listen: "127.0.0.1:${ports.bynet}"
    allowlist: ./allowlist.txt
    policies:
      - { name: elsewhere, sources: ["198.51.100.0/24"], allowlist: ./allowlist.txt }
      - { name: loopback-net, sources: ["127.0.0.0/8"], allowlist: ./alpha.txt }
    ${loop}
    accessLog: { path: ./bynet.json, format: json }
  fenced:
    listen: "127.0.0.1:${ports.fenced}"
    allowlist: ./allowlist.txt
    securityGroups: [office]
  stall:
    listen: "127.0.0.1:${ports.stall}"
    allowlist: ./allowlist.txt
    idleTimeout: 800ms
    headersTimeout: 700ms
    ${loop}
  patient:
    listen: "127.0.0.1:${ports.patient}"
    allowlist: ./allowlist.txt
    idleTimeout: 0s
    headersTimeout: 0s
    ${loop}
admin: { enabled: false }
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop('SIGKILL');
  origin?.closeAllConnections();
  origin?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The file's text once `match` holds (log writes are asynchronous; no event says they landed). */
async function fileWhen(file: string, match: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (match(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const proxy = (k: keyof typeof ports) => `http://127.0.0.1:${ports[k]}`;
const target = (p = '/x') => `http://127.0.0.1:${originPort}${p}`;

test('curl http_proxy: GET through the proxy reaches the origin, Host set, Via added', async () => {
  const r = await curlVia(proxy('open'), target('/hello?q=1'));
  assert.equal(r.status, 200, r.headers);
  assert.match(r.body, /method=GET url=\/hello\?q=1 bytes=0/);
  assert.match(r.body, /via=1\.1 gatehouse/);
  assert.match(r.headers, new RegExp(`X-Seen-Host: 127\\.0\\.0\\.1:${originPort}`, 'i'));
});

test('curl with http_proxy in the environment, plain and tunnelled', async () => {
  const env = { ...process.env, http_proxy: proxy('open'), HTTPS_PROXY: proxy('open'), no_proxy: '' };
  const plain = await run('curl', ['-s', '-m', '5', target('/env')], { env });
  assert.match(plain.stdout, /method=GET url=\/env bytes=0/, plain.stderr);
  const tunnelled = await run('curl', ['-s', '-m', '5', '--proxytunnel', target('/env-tunnel')], { env });
  assert.match(tunnelled.stdout, /method=GET url=\/env-tunnel bytes=0/, tunnelled.stderr);
  const denied = await run(
    'curl',
    ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', 'http://example.com/'],
    { env },
  );
  assert.equal(denied.stdout, '403');
});

test('curl: keep-alive, several requests on one client connection', async () => {
  const r = await curlVia(proxy('open'), target('/a'), { extra: ['-v', target('/b'), target('/c')] });
  assert.equal(r.status, 200);
  assert.equal((r.body.match(/method=GET/g) ?? []).length, 3);
  assert.match(r.headers, /Re-using existing connection/);
});

test('curl: chunked upload and chunked download, bytes intact', async () => {
  const file = path.join(dir, 'upload.bin');
  const data = Buffer.alloc(300_000, 0);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
  fs.writeFileSync(file, data);
  let sum = 0;
  for (const x of data) sum = (sum + x) % 65521;
  const r = await curlVia(proxy('open'), target('/up'), {
    extra: ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`],
  });
  assert.equal(r.status, 200, r.headers);
  assert.match(r.body, new RegExp(`method=POST url=/up bytes=${data.length} sum=${sum}`));
  assert.match(r.headers, /Transfer-Encoding: chunked/i);
});

test('curl: methods pass through (PUT, DELETE, PATCH, HEAD, OPTIONS)', async () => {
  for (const m of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await curlVia(proxy('open'), target('/m'), { extra: ['-X', m, '--data', 'abc'] });
    assert.equal(r.status, 200);
    assert.match(r.body, new RegExp(`method=${m} url=/m bytes=3`));
  }
  const head = await curlVia(proxy('open'), target('/h'), { extra: ['-I'] });
  assert.equal(head.status, 200);
});

test('undici ProxyAgent: responses stream (first chunk arrives before the origin finishes)', async () => {
  const agent = new ProxyAgent(proxy('open'));
  try {
    const res = await undiciRequest(target('/stream'), { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(Buffer.from(first.value as Buffer).toString(), 'first\n');
    assert.ok(release, 'origin still holds the rest');
    release!();
    let rest = '';
    for (let n = await it.next(); !n.done; n = await it.next())
      rest += Buffer.from(n.value as Buffer).toString();
    assert.equal(rest, 'last\n');
  } finally {
    await agent.close();
  }
});

test('plain HTTP responses stream too (first chunk before the origin finishes)', async () => {
  release = undefined;
  const s = net.connect(ports.open, '127.0.0.1');
  await once(s, 'connect');
  s.write(`GET ${target('/stream')} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  while (!got.includes('first')) await once(s, 'data');
  assert.match(got, /^HTTP\/1\.1 200/);
  assert.doesNotMatch(got, /last/);
  release!();
  while (!got.includes('last')) await once(s, 'data');
  s.destroy();
});

test('upstream framing: close-delimited, chunked with trailers, interim 1xx, refused ambiguity, dead pooled sockets', async () => {
  // A raw origin whose replies Node's own server would never send.
  const replies: Record<string, string> = {
    '/close': 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close',
    '/chunked':
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n',
    '/interim':
      'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    '/ambiguous': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!',
    '/once': 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce',
    '/flaky': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nflaky',
  };
  const raw = net.createServer((c) => {
    let buf = '';
    let served = 0;
    c.on('data', (d: Buffer) => {
      // A request that raced our FIN (the proxy reused the connection before it saw the close)
      // finds this side ended: the proxy must retry it elsewhere, and writing here would throw.
      if (c.writableEnded) return;
      buf += d.toString();
      const m = /^GET (\S+) HTTP\/1\.1\r\n[\s\S]*?\r\n\r\n/.exec(buf);
      if (!m) return;
      buf = buf.slice(m[0].length);
      // /flaky: a kept-alive connection that dies when its second request arrives.
      if (m[1] === '/flaky' && served++ > 0) return c.destroy();
      const reply = replies[m[1]!] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n';
      c.write(reply);
      // Close after close-delimited replies, and after /once to leave a dead socket in the pool.
      if (m[1] === '/close' || m[1] === '/once') c.end();
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  const rp = (raw.address() as net.AddressInfo).port;
  const at = (p: string) => `http://127.0.0.1:${rp}${p}`;
  try {
    const close = await curlVia(proxy('open'), at('/close'));
    assert.equal(close.status, 200);
    assert.equal(close.body, 'until-close');
    const chunked = await curlVia(proxy('open'), at('/chunked'));
    assert.equal(chunked.body, 'abcde');
    const interim = await curlVia(proxy('open'), at('/interim'));
    assert.equal(interim.status, 200);
    assert.equal(interim.body, 'ok');
    const ambiguous = await curlVia(proxy('open'), at('/ambiguous'));
    assert.equal(ambiguous.status, 502);
    // Two requests in a row to an origin that closes after each reply: the second must not be
    // sent on the dead pooled socket (it is dropped on close, or the send is retried once).
    const twice = await curlVia(proxy('open'), at('/once'), { extra: [at('/once')] });
    assert.equal(twice.status, 200);
    assert.doesNotMatch(twice.headers, / 502 /);
    assert.match(twice.body, /^once\n200 000once$/);
    // A pooled socket that dies on the next request: the request is retried once on a new one.
    const flaky = await curlVia(proxy('open'), at('/flaky'), { extra: [at('/flaky')] });
    assert.equal(flaky.status, 200, flaky.headers);
    assert.doesNotMatch(flaky.headers, / 502 /);
    assert.match(flaky.body, /^flaky\n200 000flaky$/);
  } finally {
    raw.close();
  }
});

test('curl https_proxy style CONNECT tunnel (-p) to an allowed port', async () => {
  const r = await curlVia(proxy('open'), target('/tunnelled'), { tunnel: true });
  assert.equal(r.connectStatus, 200, r.headers);
  assert.equal(r.status, 200);
  assert.match(r.body, /url=\/tunnelled/);
});

test('CONNECT to a port outside connectPorts: 403 ERR_ACCESS_DENIED', async () => {
  const r = await curlVia(proxy('team'), target('/t'), { tunnel: true, extra: ['-U', 'carol:pw-2'] });
  assert.equal(r.connectStatus, 403, r.headers);
  assert.match(r.headers, /X-Squid-Error: ERR_ACCESS_DENIED 0/);
  assert.match(r.headers, /X-Gatehouse-Reason: connect_port_not_allowed/);
});

test('denied host: 403 with the ERR_ACCESS_DENIED page and X-Squid-Error header', async () => {
  const r = await curlVia(proxy('open'), 'http://example.com/');
  assert.equal(r.status, 403);
  assert.match(r.headers, /X-Squid-Error: ERR_ACCESS_DENIED 0/);
  assert.match(r.headers, /X-Gatehouse-Reason: not_in_allowlist/);
  assert.match(r.body, /ERR_ACCESS_DENIED/);
  const audit = await gh.waitForAudit((l) => l.event === 'denied' && l.target === 'http://example.com/');
  assert.equal(audit.reason, 'not_in_allowlist');
});

test('Upgrade requests are relayed both ways after 101', async () => {
  const s = net.connect(ports.open, '127.0.0.1');
  await once(s, 'connect');
  s.write(
    `GET ${target('/ws')} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`,
  );
  let buf = '';
  s.on('data', (d: Buffer) => (buf += d.toString()));
  while (!buf.includes('\r\n\r\n')) await once(s, 'data');
  assert.match(buf, /^HTTP\/1\.1 101/);
  buf = '';
  s.write('hello upgrade');
  while (!buf.includes('HELLO UPGRADE')) await once(s, 'data');
  s.destroy();
});

test('oversized request headers: 431', async () => {
  const r = await curlVia(proxy('open'), target('/big'), { extra: ['-H', `X-Big: ${'a'.repeat(6000)}`] });
  assert.equal(r.status, 431);
  assert.match(r.headers, /X-Gatehouse-Reason: GH_ERR_HEADERS_TOO_LARGE/);
});

test('slow request headers: 408 after headersTimeout', async () => {
  const s = net.connect(ports.open, '127.0.0.1');
  await once(s, 'connect');
  s.write(`GET ${target('/slow')} HTTP/1.1\r\nHost: x\r\n`);
  const started = Date.now();
  const [d] = (await once(s, 'data')) as [Buffer];
  assert.match(d.toString(), /^HTTP\/1\.1 408/);
  assert.ok(Date.now() - started < 5000);
  s.destroy();
});

test('a connection that sends nothing gets 408 after headersTimeout', { timeout: 10_000 }, async () => {
  const s = net.connect(ports.stall, '127.0.0.1');
  await once(s, 'connect');
  const started = Date.now();
  const [d] = (await once(s, 'data')) as [Buffer];
  const waited = Date.now() - started;
  assert.match(d.toString(), /^HTTP\/1\.1 408/);
  assert.ok(waited >= 600 && waited < 5000, `408 after ${waited} ms (headersTimeout 700ms)`);
  s.destroy();
});

test(
  'an origin that never answers: 504 after idleTimeout, and that upstream connection is closed',
  { timeout: 10_000 },
  async () => {
    const before = new Set(originSockets.keys());
    const started = Date.now();
    const r = await curlVia(proxy('stall'), target('/never'));
    const waited = Date.now() - started;
    assert.equal(r.status, 504);
    assert.match(r.headers, /X-Gatehouse-Reason: GH_ERR_DIAL_TIMEOUT/);
    assert.ok(waited >= 700 && waited < 5000, `504 after ${waited} ms (idleTimeout 800ms)`);
    const stalled = [...originSockets.keys()].filter((p) => !before.has(p));
    for (const p of stalled) {
      const sock = originSockets.get(p);
      if (sock && !sock.destroyed) await once(sock, 'close');
    }
  },
);

test('idleTimeout and headersTimeout of 0 mean no limit', { timeout: 15_000 }, async () => {
  // A silent client and a slow origin, each past two sweeps (1 s apart at these settings).
  const s = net.connect(ports.patient, '127.0.0.1');
  await once(s, 'connect');
  let early = '';
  s.on('data', (d: Buffer) => (early += d.toString()));
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(early, '', 'nothing sent to a silent client');
  assert.equal(s.destroyed, false);
  s.destroy();
  const r = await curlVia(proxy('patient'), target('/delay'));
  assert.equal(r.status, 200);
  assert.equal(r.body, 'late\n');
});

test(
  'a pooled upstream connection idle for idleTimeout is closed by the proxy',
  { timeout: 10_000 },
  async () => {
    const before = new Set(originSockets.keys());
    const r = await curlVia(proxy('stall'), target('/pooled'));
    assert.equal(r.status, 200);
    const fresh = [...originSockets.entries()].filter(([p]) => !before.has(p));
    assert.equal(fresh.length, 1, 'one new upstream connection');
    const [, sock] = fresh[0]!;
    // Node's own keepAliveTimeout (5 s) would close it later: a close well before that is the proxy's.
    const started = Date.now();
    if (!sock.destroyed) await once(sock, 'close');
    const waited = Date.now() - started;
    assert.ok(waited < 3000, `closed after ${waited} ms idle (idleTimeout 800ms)`);
  },
);

test('origin-form requests: /healthz and /metrics; anything else 400', async () => {
  const h = await fetch(`${proxy('open')}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(await h.text(), 'ok\n');
  const m = await (await fetch(`${proxy('open')}/metrics`)).text();
  assert.match(
    m,
    /gatehouse_egress_requests_total\{proxy="open",kind="http",decision="allowed",reason="allowlist_matched"\} \d+/,
  );
  assert.match(m, /gatehouse_egress_bytes_total\{proxy="open",direction="to_client"\} \d+/);
  assert.match(m, /gatehouse_egress_open_tunnels/);
  assert.equal((await fetch(`${proxy('open')}/other`)).status, 400);
});

test('access log in Squid native format', async () => {
  const text = await fileWhen(path.join(dir, 'access.log'), (t) => t.includes('TCP_TUNNEL/200'));
  assert.match(
    text,
    /^\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_MISS\/200 \d+ GET http:\/\/127\.0\.0\.1:\d+\/hello\?q=1 - HIER_DIRECT\/127\.0\.0\.1 text\/plain$/m,
  );
  assert.match(text, /TCP_DENIED\/403 \d+ GET http:\/\/example\.com\/ - HIER_NONE\/- text\/html$/m);
  assert.match(text, /TCP_TUNNEL\/200 \d+ CONNECT 127\.0\.0\.1:\d+ - HIER_DIRECT\/127\.0\.0\.1 -$/m);
});

test('security groups guard the listener: a source outside them is reset before any byte', async () => {
  const r = await curlVia(proxy('fenced'), target('/f'));
  assert.equal(r.status, 0);
  const a = await gh.waitForAudit(
    (l) => l.event === 'denied' && l.listener === `fenced@127.0.0.1:${ports.fenced}`,
  );
  assert.equal(a.reason, 'no_ingress_rule_matched');
});

test('the guard holds on loopback without the escape hatch', async () => {
  const r = await curlVia(proxy('guarded'), target('/g'));
  assert.equal(r.status, 403);
  assert.match(r.headers, /X-Gatehouse-Reason: private_destination/);
  const t = await curlVia(proxy('guarded'), target('/g'), { tunnel: true });
  assert.equal(t.connectStatus, 403);
});

test(
  'proxy auth: 407 with Proxy-Authenticate, then bcrypt, APR1 and SHA1 users get through',
  { skip: !haveHtpasswd && 'no htpasswd' },
  async () => {
    const none = await curlVia(proxy('team'), target('/a'));
    assert.equal(none.status, 407);
    assert.match(none.headers, /Proxy-Authenticate: Basic realm="egress"/);
    assert.match(none.headers, /X-Squid-Error: ERR_CACHE_ACCESS_DENIED 0/);
    const wrong = await curlVia(proxy('team'), target('/a'), { extra: ['-U', 'bob:nope'] });
    assert.equal(wrong.status, 407);
    for (const [u, p] of [
      ['bob', 'pw-1'],
      ['carol', 'pw-2'],
    ]) {
      const ok = await curlVia(proxy('team'), target('/a'), { extra: ['-U', `${u}:${p}`] });
      assert.equal(ok.status, 200, `${u}: ${ok.headers}`);
      assert.match(ok.body, /proxy-auth=none/, 'credentials are not forwarded to the origin');
    }
  },
);

test(
  'per-user policy: alice gets alpha.txt (localhost only), not the default allowlist',
  { skip: !haveHtpasswd && 'no htpasswd' },
  async () => {
    const byIp = await curlVia(proxy('team'), target('/a'), { extra: ['-U', 'alice:pw-0'] });
    assert.equal(byIp.status, 403);
    const byName = await curlVia(proxy('team'), `http://localhost:${originPort}/a`, {
      extra: ['-U', 'alice:pw-0'],
    });
    assert.equal(byName.status, 200, byName.headers);
    const lines = (
      await fileWhen(path.join(dir, 'team.json'), (t) => /"status":200,[^\n]*"policy":"alpha"/.test(t))
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const alice = lines.find((l) => l.user === 'alice' && l.status === 200);
    assert.equal(alice?.policy, 'alpha');
    assert.match(String(alice?.where), /alpha\.txt:1$/);
  },
);

test('per-network policy: clients from 127.0.0.0/8 get their own allowlist', async () => {
  const byIp = await curlVia(proxy('bynet'), target('/n'));
  assert.equal(byIp.status, 403, 'the default allowlist would allow 127.0.0.1; the policy does not');
  const byName = await curlVia(proxy('bynet'), `http://localhost:${originPort}/n`);
  assert.equal(byName.status, 200, byName.headers);
  const text = await fileWhen(path.join(dir, 'bynet.json'), (t) =>
    /"status":200,[^\n]*"policy":"loopback-net"/.test(t),
  );
  assert.match(text, /"status":403,[^\n]*"policy":"loopback-net"/);
  assert.match(text, /"status":200,[^\n]*"where":"[^"]*alpha\.txt:1","policy":"loopback-net"/);
});

test('report-only: would-be denials are allowed and logged', async () => {
  const r = await curlVia(proxy('report'), target('/r'));
  assert.equal(r.status, 200);
  const a = await gh.waitForAudit(
    (l) => l.listener === `report@127.0.0.1:${ports.report}` && l.event === 'closed',
  );
  assert.equal(a.reason, 'report_only:not_in_allowlist');
  await gh.waitForLog((l) => l.msg === 'report-only: would deny');
});

test('allowlist reload: a replaced file takes effect; a broken one keeps the last good', async () => {
  const file = path.join(dir, 'allowlist.txt');
  const before = await curlVia(proxy('open'), `http://localhost:${originPort}/n`);
  assert.equal(before.status, 403);
  fs.writeFileSync(`${file}.tmp`, '127.0.0.1\nlocalhost\n');
  fs.renameSync(`${file}.tmp`, file);
  await gh.waitForLog((l) => l.msg === 'allowlist loaded' && l.entries === 2 && l.proxy === 'open');
  const afterOk = await curlVia(proxy('open'), `http://localhost:${originPort}/n`);
  assert.equal(afterOk.status, 200);
  fs.rmSync(file);
  await gh.waitForLog((l) => l.code === 'GH_ERR_EGRESS_FILE' && l.proxy === 'open');
  const kept = await curlVia(proxy('open'), `http://localhost:${originPort}/n`);
  assert.equal(kept.status, 200, 'last good allowlist still in force');
});

test('htpasswd reload: a user added by rename can authenticate without a restart', async () => {
  const file = path.join(dir, 'users');
  const before = await curlVia(proxy('team'), target('/d'), { extra: ['-U', 'dave:pw-d'] });
  assert.equal(before.status, 407);
  const sha = createHashSha1('pw-d');
  fs.writeFileSync(`${file}.tmp`, fs.readFileSync(file, 'utf8') + `dave:{SHA}${sha}\n`);
  fs.renameSync(`${file}.tmp`, file);
  // Every process that serves the proxy reloads the file: wait for each (with workers, the next
  // request may land on a worker that has not logged it yet).
  const processes = Number(process.env.GATEHOUSE_TEST_WORKERS ?? 1);
  const reloaded = new Set<unknown>();
  await gh.waitForLog((l) => {
    if (l.msg === 'htpasswd loaded' && l.proxy === 'team' && l.entries === (haveHtpasswd ? 4 : 2))
      reloaded.add(l.worker ?? l.pid);
    return reloaded.size >= processes;
  });
  const after = await curlVia(proxy('team'), target('/d'), { extra: ['-U', 'dave:pw-d'] });
  assert.equal(after.status, 200, after.headers);
});

test('nothing left open: tunnels and in-flight requests back to zero', async () => {
  const deadline = Date.now() + 5000;
  let text = '';
  for (;;) {
    text = await (await fetch(`${proxy('open')}/metrics`)).text();
    const open = /gatehouse_egress_open_tunnels\{proxy="open"\} (\d+)/.exec(text)?.[1];
    const inflight = /gatehouse_egress_inflight_requests\{proxy="open"\} (\d+)/.exec(text)?.[1];
    if ((open === '0' && inflight === '0') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(text, /gatehouse_egress_open_tunnels\{proxy="open"\} 0\n/);
  assert.match(text, /gatehouse_egress_inflight_requests\{proxy="open"\} 0\n/);
});

test('SIGTERM drains: no new connections, in-flight requests and tunnels finish', async () => {
  const inflight = curlVia(proxy('open'), target('/hold'), { timeout: 15 });
  const tunnel = curlVia(proxy('open'), target('/hold'), { timeout: 15, tunnel: true });
  while (held.length < 2) await once(heldEvents, 'held');
  const exited = once(gh.proc, 'exit');
  gh.proc.kill('SIGTERM');
  await gh.waitForLog((l) => l.msg === 'shutting down');
  // The listener closes in the same tick as that log line; new clients are refused.
  const refused = await curlVia(proxy('open'), target('/late'), { timeout: 2 });
  assert.equal(refused.status, 0);
  for (const h of held) h();
  const [a, b] = await Promise.all([inflight, tunnel]);
  assert.equal(a.status, 200);
  assert.equal(a.body, 'held-start\nheld-done\n');
  assert.equal(b.body, 'held-start\nheld-done\n');
  const [code] = (await exited) as [number];
  assert.equal(code, 0);
});

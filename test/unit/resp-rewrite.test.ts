// Cluster address rewriting on replies captured from a redis-server 7.0 cluster (6 nodes,
// announced hostnames node<i>.cache.internal, loopback addresses): no private address survives
// in MOVED/ASK/SLOTS/SHARDS/NODES/REPLICAS/SLAVES, RESP2 and RESP3, at any chunking; every other
// reply leaves byte for byte (and, fed whole, as the same Buffer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRespScanner } from '../../src/protocols/resp-scanner.js';
import { parseReply, type RespValue } from '../../src/protocols/resp-value.js';
import {
  createCommandTracker,
  createReplyRewriter,
  createRespRewriteSession,
  type AddressMap,
} from '../../src/protocols/resp-rewrite.js';
import { rewriteNodeLine, rewriteRedirect } from '../../src/protocols/resp-cluster.js';

const DIR = new URL('../fixtures/resp/', import.meta.url);
const INDEX = JSON.parse(readFileSync(new URL('index.json', DIR), 'utf8')) as {
  ports: { cluster: number[] };
  fixtures: { name: string; resp: 2 | 3; replies: number }[];
};
const read = (name: string) => readFileSync(new URL(name, DIR));
const PRIVATE_PORTS = INDEX.ports.cluster;
const PUBLIC_HOST = 'gw.example.net';
const publicPort = (p: number) => 16000 + PRIVATE_PORTS.indexOf(p);

/** The gateway's map: every cluster node by IP or announced hostname (or unknown endpoint). */
const MAP: AddressMap = (host, port) => {
  if (!PRIVATE_PORTS.includes(port)) return undefined;
  if (host !== '127.0.0.1' && !/^node\d\.cache\.internal$/.test(host) && host !== '') return undefined;
  return { host: PUBLIC_HOST, port: publicPort(port) };
};

const HELLO3_REQ = Buffer.from('*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n');

/** Runs a fixture's request and reply through a session, the reply cut into `chunks`. */
function run(name: string, cut: (b: Buffer) => Buffer[], map: AddressMap = MAP) {
  const f = INDEX.fixtures.find((x) => x.name === name)!;
  const s = createRespRewriteSession(map);
  if (f.resp === 3 && name !== 'hello3') {
    s.fromClient(HELLO3_REQ);
    s.toClient(read('hello3.resp'));
  }
  const req = read(`${name}.req`);
  const reply = read(`${name}.resp`);
  for (const c of cut(req)) s.fromClient(c);
  const outs = cut(reply).map((c) => ({ in: c, out: s.toClient(c) }));
  return { s, reply, outs, out: Buffer.concat(outs.map((o) => o.out)) };
}

const whole = (b: Buffer) => [b];
const bytes = (b: Buffer) => Array.from(b, (_, i) => b.subarray(i, i + 1));
const at = (i: number) => (b: Buffer) => [
  b.subarray(0, Math.min(i, b.length)),
  b.subarray(Math.min(i, b.length)),
];

function frames(buf: Buffer): RespValue[] {
  const out: RespValue[] = [];
  const sc = createRespScanner();
  for (let p = 0; p < buf.length;) {
    const e = sc.scan(buf, p);
    assert.ok(e > p, `frames at ${p}: ${sc.error?.message}`);
    const r = parseReply(buf, p);
    assert.ok(r.ok && r.consumed === e - p, 'reply parses and lengths agree');
    out.push(r.value);
    p = e;
  }
  return out;
}

function assertNoPrivateAddress(out: Buffer, what: string) {
  const text = out.toString('latin1');
  assert.ok(!text.includes('127.0.0.1'), `${what}: private IP left`);
  assert.ok(!text.includes('cache.internal'), `${what}: private hostname left`);
  for (const p of PRIVATE_PORTS) {
    assert.ok(!new RegExp(`[:\\s]${p}(?=[@\\r\\n ])`).test(text), `${what}: private port ${p} left`);
  }
}

const CLUSTER_FIXTURES = INDEX.fixtures
  .map((f) => f.name)
  .filter((n) =>
    /^(cluster-(slots|shards|nodes|replicas|slaves)|moved|ask|multi-exec|mixed-pipeline|pubsub)/.test(n),
  );
const OTHER_FIXTURES = [
  'get-set',
  'get-set-resp3',
  'cluster-info',
  'cluster-info-resp3',
  'hello3',
  'large-bulk',
].concat(['debug-protocol-resp2', 'debug-protocol-resp3', 'tracking-push-resp3']);

test('cluster replies: no private address survives, RESP2 and RESP3, at every split point', () => {
  assert.ok(CLUSTER_FIXTURES.length >= 25, `${CLUSTER_FIXTURES.length} fixtures`);
  for (const name of CLUSTER_FIXTURES) {
    const want = run(name, whole);
    assertNoPrivateAddress(want.out, name);
    const f = INDEX.fixtures.find((x) => x.name === name)!;
    assert.equal(frames(want.out).length, f.replies, `${name}: one reply out per reply in`);
    assert.ok(want.s.rewriter.stats.rewritten >= 1, name);
    assert.equal(want.s.tracker.pending, 0, `${name}: every command answered`);
    for (let i = 0; i <= want.reply.length; i++) {
      assert.ok(run(name, at(i)).out.equals(want.out), `${name} split at ${i}`);
    }
    assert.ok(run(name, bytes).out.equals(want.out), `${name} byte by byte`);
  }
});

test('other replies pass byte for byte, and whole chunks pass as the same Buffer', () => {
  for (const name of OTHER_FIXTURES) {
    const r = run(name, whole);
    assert.ok(r.out.equals(r.reply), name);
    // An error reply is held back to look for MOVED/ASK, so only error-free streams are zero-copy.
    if (name !== 'debug-protocol-resp2')
      for (const o of r.outs) assert.equal(o.out, o.in, `${name}: zero-copy`);
    assert.equal(r.s.rewriter.stats.rewritten, 0, name);
    assert.ok(run(name, bytes).out.equals(r.reply), `${name} byte by byte`);
  }
});

test('unknown addresses pass unchanged', () => {
  const none: AddressMap = () => undefined;
  for (const name of CLUSTER_FIXTURES) {
    const r = run(name, whole, none);
    assert.ok(r.out.equals(r.reply), name);
  }
});

test('CLUSTER SLOTS: ports, endpoints and metadata carry the public address', () => {
  for (const name of [
    'cluster-slots',
    'cluster-slots-resp3',
    'cluster-slots-hostname',
    'cluster-slots-unknown-endpoint-resp3',
  ]) {
    const [v] = frames(run(name, whole).out);
    assert.ok(v && v.type === 'array' && v.items);
    for (const range of v.items) {
      assert.ok(range.type === 'array' && range.items);
      for (const node of range.items.slice(2)) {
        assert.ok(node.type === 'array' && node.items);
        const endpoint = node.items[0]!;
        const port = node.items[1]!;
        const unknown = name.includes('unknown');
        if (unknown) assert.equal(endpoint.type, 'null', 'an unknown endpoint stays unknown');
        else assert.ok(endpoint.type === 'bulk' && endpoint.bytes?.toString() === PUBLIC_HOST, name);
        assert.ok(port.type === 'integer' && Number(port.text) >= 16000 && Number(port.text) < 16006, name);
      }
    }
  }
});

test('CLUSTER NODES / REPLICAS: address, hostname rewritten; bus port, flags, slots kept; lengths recomputed', () => {
  const r = run('cluster-nodes', whole);
  const [v] = frames(r.out);
  assert.ok(v && v.type === 'bulk' && v.bytes);
  const lines = v.bytes.toString().split('\n');
  assert.equal(lines.at(-1), '');
  const [o] = frames(read('cluster-nodes.resp'));
  assert.ok(o && o.type === 'bulk' && o.bytes);
  const orig = o.bytes.toString().split('\n');
  for (const [i, l] of lines.slice(0, -1).entries()) {
    assert.match(l, /^[0-9a-f]{40} gw\.example\.net:1600\d@\d+,gw\.example\.net (myself,)?(master|slave) /);
    assert.equal(l.split(' ').slice(2).join(' '), orig[i]!.split(' ').slice(2).join(' '));
    assert.equal(
      l.split(' ')[1]!.split('@')[1]!.split(',')[0],
      orig[i]!.split(' ')[1]!.split('@')[1]!.split(',')[0],
    );
  }
  const [v3] = frames(run('cluster-nodes-resp3', whole).out);
  assert.ok(v3 && v3.type === 'verbatim' && v3.bytes.toString().startsWith('txt:'), 'verbatim kept');
  const [rep] = frames(run('cluster-replicas-resp3', whole).out);
  assert.ok(rep && rep.type === 'array' && rep.items?.length === 1);
});

test('MOVED and ASK: IP, hostname, unknown endpoint, IPv6; bad slots and ports left alone', () => {
  assert.equal(
    run('moved', whole).out.toString(),
    `-MOVED 12182 ${PUBLIC_HOST}:${publicPort(PRIVATE_PORTS[2]!)}\r\n`,
  );
  assert.match(run('ask', whole).out.toString(), /^-ASK \d+ gw\.example\.net:1600\d\r\n$/);
  assert.match(run('moved-hostname', whole).out.toString(), /^-MOVED 12182 gw\.example\.net:1600\d\r\n$/);
  assert.match(
    run('moved-unknown-endpoint', whole).out.toString(),
    /^-MOVED 12182 gw\.example\.net:1600\d\r\n$/,
  );
  const v6: AddressMap = (h, p) =>
    h === 'fd00::5' && p === 6379 ? { host: '2001:db8::1', port: 7001 } : undefined;
  assert.equal(rewriteRedirect('MOVED 1 fd00::5:6379', v6), 'MOVED 1 2001:db8::1:7001');
  assert.equal(rewriteRedirect('ASK 16383 fd00::5:6379', v6), 'ASK 16383 2001:db8::1:7001');
  for (const bad of [
    'MOVED 16384 fd00::5:6379',
    'MOVED 1 fd00::5:99999',
    'MOVED x fd00::5:6379',
    'MOVED 1 fd00::5',
    'ERR x',
  ]) {
    assert.equal(rewriteRedirect(bad, v6), undefined, bad);
  }
  const rw = createReplyRewriter(v6);
  const err = Buffer.from('-MOVED 1 fd00::5:6379\r\n-ERR other\r\n-MOVED 2 fd00::6:6379\r\n');
  assert.equal(
    rw.transform(err).toString(),
    '-MOVED 1 2001:db8::1:7001\r\n-ERR other\r\n-MOVED 2 fd00::6:6379\r\n',
  );
});

test('node lines: aux fields, tls-port, no hostname, handshake nodes', () => {
  const m: AddressMap = (h, p) =>
    h === '10.0.1.5' && p === 6379
      ? { host: 'gw', port: 7001 }
      : h === '10.0.1.5' && p === 6380
        ? { host: 'gw', port: 7002 }
        : undefined;
  const id = 'a'.repeat(40);
  assert.equal(
    rewriteNodeLine(
      `${id} 10.0.1.5:6379@16379,n5.internal,tls-port=6380,shard-id=abc master - 0 0 1 connected 0-10`,
      m,
    ),
    `${id} gw:7001@16379,gw,tls-port=7002,shard-id=abc master - 0 0 1 connected 0-10`,
  );
  assert.equal(
    rewriteNodeLine(`${id} 10.0.1.5:6379@16379, master - 0 0 1 connected`, m),
    `${id} gw:7001@16379, master - 0 0 1 connected`,
  );
  assert.equal(
    rewriteNodeLine(`${id} 10.0.1.5:6379 master - 0 0 1 connected`, m),
    `${id} gw:7001 master - 0 0 1 connected`,
  );
  assert.equal(rewriteNodeLine(`${id} :0@0 handshake - 0 0 0 disconnected`, m), undefined);
  assert.equal(rewriteNodeLine('garbage', m), undefined);
});

test('pub/sub: messages and confirmations untouched, the CLUSTER SLOTS after UNSUBSCRIBE rewritten', () => {
  for (const name of ['pubsub', 'pubsub-resp3']) {
    const r = run(name, whole);
    const inFrames = frames(r.reply);
    const outFrames = frames(r.out);
    assert.equal(outFrames.length, inFrames.length);
    assert.deepEqual(outFrames.slice(0, 9), inFrames.slice(0, 9), `${name}: pub/sub traffic unchanged`);
    assert.notDeepEqual(outFrames[9], inFrames[9], `${name}: CLUSTER SLOTS rewritten`);
    assert.equal(r.s.rewriter.stats.rewritten, 2, `${name}: SLOTS and MOVED`);
    assert.equal(r.s.tracker.pending, 0);
  }
});

test('MULTI/EXEC: +QUEUED untouched, the CLUSTER replies inside the EXEC array rewritten', () => {
  for (const name of ['multi-exec-slots', 'multi-exec-slots-resp3']) {
    const r = run(name, whole);
    const inF = frames(r.reply);
    const outF = frames(r.out);
    assert.deepEqual(outF.slice(0, 4), inF.slice(0, 4));
    const exec = outF[4]!;
    assert.ok(exec.type === 'array' && exec.items?.length === 3);
    assert.deepEqual(exec.items[0], (inF[4] as { items: RespValue[] }).items[0], 'the SET reply');
  }
});

test('tracker: inline commands, CLIENT REPLY, HELLO, RESET, MONITOR, request split anywhere', () => {
  const ex = (t: ReturnType<typeof createCommandTracker>, type = 42) => t.expect(type).kind;
  const done = (t: ReturnType<typeof createCommandTracker>, type = 43) =>
    t.replyEnded(type, -1, () => '', NaN);
  const t = createCommandTracker();
  t.feed(Buffer.from('cluster   SLOTS\r\nPING\n"cluster" \'nodes\'\r\n\r\n'));
  assert.equal(t.pending, 3);
  assert.equal(ex(t), 'cluster-slots');
  done(t);
  assert.equal(ex(t), 'plain');
  done(t);
  assert.equal(ex(t), 'cluster-nodes');
  done(t);
  assert.equal(t.pending, 0);
  // CLIENT REPLY OFF silences until ON; SKIP silences the next command.
  const r = createCommandTracker();
  r.feed(
    Buffer.from(
      'CLIENT REPLY OFF\r\nCLUSTER SLOTS\r\nCLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\nCLUSTER NODES\r\nCLUSTER SHARDS\r\n',
    ),
  );
  assert.equal(r.pending, 2);
  assert.equal(ex(r), 'plain');
  done(r);
  assert.equal(ex(r), 'cluster-shards');
  // HELLO 3 switches only when it succeeds; RESET goes back to RESP2.
  const h = createCommandTracker();
  h.feed(Buffer.from('HELLO 3\r\nHELLO 3\r\nRESET\r\n'));
  done(h, 45);
  assert.equal(h.protocol, 2, 'an error keeps RESP2');
  done(h, 37);
  assert.equal(h.protocol, 3);
  done(h);
  assert.equal(h.protocol, 2);
  // MONITOR: the tracker gives up after the +OK.
  const m = createCommandTracker();
  m.feed(Buffer.from('MONITOR\r\nCLUSTER SLOTS\r\n'));
  done(m);
  assert.ok(m.lost);
  assert.equal(ex(m), 'plain');
  // Malformed requests: the server answers one error and closes.
  for (const bad of ['*1\r\n+PING\r\n', '*x\r\n', 'GET "unbalanced\r\n', `*1\r\n$${2 ** 33}\r\n`]) {
    const b = createCommandTracker();
    b.feed(Buffer.from(bad));
    assert.ok(b.lost, bad);
    assert.equal(b.pending, 1, bad);
  }
  const long = createCommandTracker();
  long.feed(Buffer.alloc(70 * 1024, 0x61));
  assert.ok(long.lost);
  // Request bytes split anywhere give the same expectations.
  const req = Buffer.concat([read('mixed-pipeline.req'), read('multi-exec-slots.req'), read('pubsub.req')]);
  const kinds = (chunks: Buffer[]) => {
    const k = createCommandTracker();
    for (const c of chunks) k.feed(c);
    const out: string[] = [];
    while (k.pending > 0 && out.length < 100) {
      out.push(ex(k));
      done(k, 58);
    }
    return out;
  };
  const want = kinds([req]);
  assert.deepEqual(want.slice(0, 7), [
    'plain',
    'cluster-slots',
    'plain',
    'plain',
    'cluster-nodes',
    'plain',
    'cluster-shards',
  ]);
  for (let i = 0; i <= req.length; i++)
    assert.deepEqual(kinds([req.subarray(0, i), req.subarray(i)]), want, `split ${i}`);
  assert.deepEqual(kinds(bytes(req)), want);
});

test('a reply too large to rewrite becomes one error reply; the stream stays in step', () => {
  const s = createRespRewriteSession(MAP, { maxRewriteBytes: 100 });
  s.fromClient(Buffer.from('CLUSTER SLOTS\r\nPING\r\n'));
  const out = Buffer.concat(
    bytes(Buffer.concat([read('cluster-slots.resp'), Buffer.from('+PONG\r\n')])).map(s.toClient),
  );
  assert.equal(out.toString(), '-ERR Gatehouse: reply too large to rewrite cluster addresses\r\n+PONG\r\n');
  assert.equal(s.rewriter.stats.oversized, 1);
});

test('a malformed reply stream stops rewriting and passes bytes through untouched', () => {
  const s = createRespRewriteSession(MAP);
  s.fromClient(Buffer.from('GET a\r\nCLUSTER SLOTS\r\n'));
  const bad = Buffer.from('$3\r\nabcX\r\n');
  const out = Buffer.concat([s.toClient(bad), s.toClient(read('cluster-slots.resp'))]);
  assert.ok(out.equals(Buffer.concat([bad, read('cluster-slots.resp')])));
  assert.equal(s.rewriter.error?.code, 'missing_crlf');
});

test('without a tracker only MOVED/ASK are rewritten', () => {
  const rw = createReplyRewriter(MAP);
  const slots = read('cluster-slots.resp');
  assert.equal(rw.transform(slots), slots);
  assertNoPrivateAddress(rw.transform(read('moved.resp')), 'moved');
});

test('pub/sub edge cases: UNSUBSCRIBE with nothing subscribed, SSUBSCRIBE redirected, server-side sunsubscribe', () => {
  const P = PRIVATE_PORTS[1]!;
  const nodesText = `${'a'.repeat(40)} 127.0.0.1:${P}@${P + 10000},node1.cache.internal myself,master - 0 0 1 connected 0-16383\n`;
  const nodes = `$${nodesText.length}\r\n${nodesText}\r\n`;
  const cases: [string, string][] = [
    [
      'SUBSCRIBE a\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nCLUSTER NODES\r\n',
      '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n' +
        `*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n${nodes}`,
    ],
    ['SSUBSCRIBE x\r\nCLUSTER NODES\r\n', `-MOVED 1 127.0.0.1:${P}\r\n${nodes}`],
    [
      'HELLO 3\r\nCLUSTER NODES\r\n',
      `${read('hello3.resp').toString('latin1')}>3\r\n$12\r\nsunsubscribe\r\n$1\r\nx\r\n:0\r\n${nodes}`,
    ],
    [
      'PSUBSCRIBE p*\r\nPING\r\nPUNSUBSCRIBE\r\nCLUSTER NODES\r\n',
      '*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\npq\r\n$1\r\nm\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n' +
        nodes,
    ],
  ];
  for (const [req, rep] of cases) {
    const replies = Buffer.from(rep, 'latin1');
    const want = (() => {
      const s = createRespRewriteSession(MAP);
      s.fromClient(Buffer.from(req));
      const out = s.toClient(replies);
      assert.equal(s.tracker.pending, 0, req);
      return out;
    })();
    assertNoPrivateAddress(want, req);
    for (const cut of [bytes, at(7), at(rep.length - 5)]) {
      const s = createRespRewriteSession(MAP);
      for (const c of cut(Buffer.from(req))) s.fromClient(c);
      assert.ok(Buffer.concat(cut(replies).map(s.toClient)).equals(want), req);
    }
  }
});

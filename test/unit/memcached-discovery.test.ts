import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterConfigReply, createDiscoveryInterceptor } from '../../src/protocols/memcached-discovery.js';

const ANSWER = clusterConfigReply(3, [
  { host: '203.0.113.1', port: 11211 },
  { host: '203.0.113.1', port: 11212 },
]);

test("the config reply has ElastiCache's format and a correct length", () => {
  const text = ANSWER.toString();
  assert.equal(
    text,
    'CONFIG cluster 0 62\r\n3\n203.0.113.1|203.0.113.1|11211 203.0.113.1|203.0.113.1|11212\n\r\nEND\r\n',
  );
  assert.equal(Buffer.byteLength('3\n203.0.113.1|203.0.113.1|11211 203.0.113.1|203.0.113.1|11212\n'), 62);
});

/** Feed both directions at every split point; returns what each side saw. */
function exchange(request: string, reply: string, split: number) {
  const i = createDiscoveryInterceptor(() => ANSWER);
  const req = Buffer.from(request);
  const toServer = Buffer.concat([
    i.toServer(req.subarray(0, split)),
    i.toServer(req.subarray(split)),
  ]).toString();
  const rep = Buffer.from(reply);
  const cut = Math.min(split, rep.length);
  const toClient = Buffer.concat([
    i.toClient(rep.subarray(0, cut)),
    i.toClient(rep.subarray(cut)),
  ]).toString();
  return { toServer, toClient };
}

test('config get cluster becomes version, and its VERSION reply becomes the config, at any split', () => {
  const request = 'get a\r\nconfig get cluster\r\nversion\r\nset k 0 0 18\r\nconfig get cluster\r\n';
  const reply = 'VALUE a 0 15\r\nVERSION 1.6.18\r\n\r\nEND\r\nVERSION 1.6.18\r\nVERSION 1.6.18\r\nSTORED\r\n';
  for (let split = 0; split <= request.length; split++) {
    const { toServer, toClient } = exchange(request, reply, split);
    // The data block of `set` holds the command text as data: it must pass untouched.
    assert.equal(
      toServer,
      'get a\r\nversion\r\nversion\r\nset k 0 0 18\r\nconfig get cluster\r\n',
      `split ${split}`,
    );
    // The VALUE data holds "VERSION ..." as data: untouched. First VERSION reply is ours, second theirs.
    assert.equal(
      toClient,
      `VALUE a 0 15\r\nVERSION 1.6.18\r\n\r\nEND\r\n${ANSWER.toString()}VERSION 1.6.18\r\nSTORED\r\n`,
      `split ${split}`,
    );
  }
});

test('binary protocol and overlong lines pass through untouched', () => {
  const i = createDiscoveryInterceptor(() => ANSWER);
  const binary = Buffer.from([0x80, 0x0b, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(i.toServer(binary), binary);
  assert.deepEqual(i.toServer(Buffer.from('config get cluster\r\n')), Buffer.from('config get cluster\r\n'));
  const j = createDiscoveryInterceptor(() => ANSWER);
  const long = Buffer.alloc(10_000, 0x61);
  assert.equal(j.toServer(long).length, long.length);
});

test('fuzz: random byte streams never throw and lose no bytes when nothing is intercepted', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const words = [
    'get ',
    'set k 0 0 ',
    'VALUE a 0 ',
    '5',
    '\r\n',
    'hello',
    'END',
    'VERSION 1',
    'ms k 3',
    'VA 3',
    'x',
    ' ',
  ];
  for (let n = 0; n < 2000; n++) {
    const text = Array.from(
      { length: Math.floor(rand() * 30) },
      () => words[Math.floor(rand() * words.length)],
    ).join('');
    const i = createDiscoveryInterceptor(() => ANSWER);
    const b = Buffer.from(text);
    const cut = Math.floor(rand() * (b.length + 1));
    const a = Buffer.concat([i.toServer(b.subarray(0, cut)), i.toServer(b.subarray(cut))]);
    const c = Buffer.concat([i.toClient(b.subarray(0, cut)), i.toClient(b.subarray(cut))]);
    // Without a `config get cluster`, bytes are unchanged, except a held-back partial last line.
    assert.ok(b.toString().startsWith(a.toString()));
    assert.ok(b.toString().startsWith(c.toString()));
  }
});

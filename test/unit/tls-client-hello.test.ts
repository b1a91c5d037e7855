// The ClientHello reader on real hellos (Node's own TLS client, captured by a plain TCP server on
// loopback): the server name with and without SNI, split across reads and records, what is not
// TLS, and a seeded fuzz over mutations and cuts that must never throw or read past the input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { readClientHello } from '../../src/protocols/tls-client-hello.js';
import { prng } from '../helpers/prng.js';

/** The first bytes a TLS client sends (its ClientHello), captured on loopback. */
async function capture(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          resolve(all);
          s.destroy();
        }
      });
    }),
  );
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, ...opts });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('the server name of a real ClientHello, whole and byte by byte', async () => {
  const hello = await capture({ servername: 'Allowed.Example' });
  assert.deepEqual(readClientHello(hello), { state: 'hello', serverName: 'allowed.example', ech: false });
  for (let n = 0; n < hello.length; n++)
    assert.deepEqual(readClientHello(hello.subarray(0, n)), { state: 'incomplete' }, `at ${n}`);
  // Payload after the hello does not change the answer.
  assert.equal(
    (readClientHello(Buffer.concat([hello, Buffer.from('more')])) as { serverName?: string }).serverName,
    'allowed.example',
  );
});

test('a ClientHello without SNI (an IP literal target) names none', async () => {
  const hello = await capture({ servername: '' });
  assert.deepEqual(readClientHello(hello), { state: 'hello', serverName: undefined, ech: false });
});

test('a ClientHello split over two records reads the same', async () => {
  const hello = await capture({ servername: 'split.example' });
  const body = hello.subarray(5);
  const cut = 40;
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
  assert.deepEqual(readClientHello(two), { state: 'hello', serverName: 'split.example', ech: false });
});

test('what is not TLS says so at the first byte; a non-handshake record is invalid', () => {
  assert.deepEqual(readClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { state: 'not-tls' });
  assert.deepEqual(readClientHello(Buffer.from([0x16, 0x09, 0x00, 0, 1, 0])), { state: 'not-tls' });
  assert.equal(readClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).state, 'invalid');
});

test('fuzz: mutated and cut hellos never throw and never claim a name out of thin air', async () => {
  const seeds = [await capture({ servername: 'a.example' }), await capture({ servername: '' })];
  const r = prng(0x5e1);
  for (let i = 0; i < 20_000; i++) {
    let b = Buffer.from(r.pick(seeds));
    for (let m = 1 + r.int(3); m > 0; m--) {
      const at = r.int(b.length);
      const op = r.int(3);
      if (op === 0) b[at] = r.int(256);
      else if (op === 1) b = b.subarray(0, at);
      else b = Buffer.concat([b.subarray(0, at), Buffer.from([r.int(256)]), b.subarray(at)]);
    }
    const res = readClientHello(b);
    assert.ok(['incomplete', 'hello', 'not-tls', 'invalid'].includes(res.state));
    if (res.state === 'hello' && res.serverName !== undefined) assert.match(res.serverName, /^[\x21-\x7e]+$/);
  }
});

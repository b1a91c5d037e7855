// The relay on real loopback sockets, for what happens before it starts: a client that sent its
// last bytes and FIN, or went away entirely, while its target was being dialed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { dial } from '../../src/pipeline/dial.js';
import { ReadPump } from '../../src/pipeline/read-pump.js';
import { relay } from '../../src/pipeline/relay.js';

/** A connected pair: `near` is what a face holds, `far` is the peer across loopback. */
async function pair(): Promise<{ near: net.Socket; far: net.Socket; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const far = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const [near] = (await once(server, 'connection')) as [net.Socket];
  await once(far, 'connect');
  return { near, far, close: () => server.close() };
}

function collect(s: net.Socket): Promise<string> {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return once(s, 'end').then(() => text);
}

test('relay: a FIN the client sent before the relay started reaches the target', async () => {
  const client = await pair();
  const target = await pair();
  // The client half-closes; the face sees 'end' before any relay exists.
  client.near.resume();
  client.far.end();
  await once(client.near, 'end');
  const atTarget = collect(target.far);
  const r = relay(client.near, target.near, { idleTimeout: 0 });
  // Before the fix the target never heard the FIN: fail after 2 s instead of hanging.
  const fin = await Promise.race([
    atTarget,
    new Promise<string>((_, no) => setTimeout(() => no(new Error('no FIN at the target')), 2000).unref()),
  ]);
  assert.equal(fin, '');
  // The target answers and closes; the answer reaches the client, and the session ends.
  const atClient = collect(client.far);
  target.far.end('reply');
  assert.equal(await atClient, 'reply');
  client.far.end();
  const result = await r.done;
  assert.equal(result.reason, 'client_closed');
  client.close();
  target.close();
});

test('relay: a client gone entirely before the relay started closes the target', async () => {
  const client = await pair();
  const target = await pair();
  client.near.destroy();
  await once(client.near, 'close');
  const targetClosed = once(target.far, 'end');
  const r = relay(client.near, target.near, { idleTimeout: 0 });
  const result = await r.done;
  assert.equal(result.reason, 'client_closed');
  await targetClosed;
  assert.equal(target.near.destroyed, true);
  client.close();
  target.close();
});

test('relay with a read pump: 16 MiB from the target arrive intact through a slow client', async () => {
  // The pump reuses one read buffer; writes that queue behind a slow reader must keep theirs.
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const payload = randomBytes(16 * 1024 * 1024);
  server.once('connection', (s: net.Socket) => s.end(payload));
  const pump = new ReadPump();
  const { socket: upstream } = await dial(
    { host: '127.0.0.1', port },
    { connectTimeout: 2000, onread: pump.onread },
  );
  const client = await pair();
  const r = relay(client.near, upstream, { idleTimeout: 0, targetPump: pump });
  const received: Buffer[] = [];
  // A slow reader: pause now and then, so the relay's writes queue and backpressure kicks in.
  client.far.on('data', (d: Buffer) => {
    received.push(d);
    if (received.length % 8 === 0) {
      client.far.pause();
      setImmediate(() => client.far.resume());
    }
  });
  await once(client.far, 'end');
  client.far.end();
  await r.done;
  const got = Buffer.concat(received);
  assert.equal(got.length, payload.length);
  assert.equal(
    createHash('sha256').update(got).digest('hex'),
    createHash('sha256').update(payload).digest('hex'),
  );
  client.close();
  server.close();
});

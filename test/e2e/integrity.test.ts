// 256 MiB of random bytes each way through one relayed connection, both directions at once;
// SHA-256 of what each end sent equals what the other end received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { freePort } from '../helpers/procs.js';
import { startGatehouse } from '../helpers/gatehouse.js';

const TOTAL = 256 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** Send TOTAL random bytes (respecting backpressure), then FIN; resolves with their hash. */
async function sendRandom(sock: net.Socket): Promise<string> {
  const h = crypto.createHash('sha256');
  // One random MiB, varied per chunk by a counter, keeps the generator off the critical path.
  const base = crypto.randomBytes(CHUNK);
  for (let sent = 0, i = 0; sent < TOTAL; sent += CHUNK, i++) {
    const chunk = Buffer.from(base);
    chunk.writeUInt32LE(i, (i * 4096) % (CHUNK - 4));
    crypto.randomFillSync(chunk, (i * 7919) % (CHUNK - 64), 64);
    h.update(chunk);
    if (!sock.write(chunk)) await once(sock, 'drain');
  }
  sock.end();
  return h.digest('hex');
}

function receiveHash(sock: net.Socket): Promise<{ hash: string; bytes: number }> {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  sock.on('data', (d: Buffer) => {
    h.update(d);
    bytes += d.length;
  });
  return once(sock, 'end').then(() => ({ hash: h.digest('hex'), bytes }));
}

test(
  '256 MiB each way through one relayed connection, checksums equal at both ends',
  { timeout: 180_000 },
  async () => {
    let serverResult!: Promise<[string, { hash: string; bytes: number }]>;
    const target = net.createServer({ allowHalfOpen: true }, (s) => {
      serverResult = Promise.all([sendRandom(s), receiveHash(s)]);
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const targetPort = (target.address() as net.AddressInfo).port;
    const listen = await freePort();
    const gh = await startGatehouse(`
portForwards:
  bulk:
    address: 127.0.0.1
    forwards:
      - { listen: "${listen}", target: "127.0.0.1:${targetPort}" }
admin:
  enabled: false
`);
    try {
      const c = net.connect({ port: listen, host: '127.0.0.1', allowHalfOpen: true });
      await once(c, 'connect');
      const [clientSent, clientGot] = await Promise.all([sendRandom(c), receiveHash(c)]);
      const [serverSent, serverGot] = await serverResult;
      assert.equal(clientGot.bytes, TOTAL);
      assert.equal(serverGot.bytes, TOTAL);
      assert.equal(serverGot.hash, clientSent, 'client → target bytes differ');
      assert.equal(clientGot.hash, serverSent, 'target → client bytes differ');
      c.destroy();
      const closed = await gh.waitForAudit((l) => l.event === 'closed');
      assert.equal(closed.bytesFromClient, TOTAL);
      assert.equal(closed.bytesToClient, TOTAL);
    } finally {
      await gh.stop();
      target.close();
    }
  },
);

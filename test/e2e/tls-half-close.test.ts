// Half-close over TLS as over TCP: a real redis-server answers a malformed command with
// "-ERR Protocol error…" and closes while the client is still sending. Through a plain port forward
// the client reads that answer; through a TLS direct listener of an access endpoint it must read it
// too, whole, then close_notify, while what it still sends is read and dropped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { freePort, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';

let pki: TestPki;
let redis: Server;
let gh: Gatehouse | undefined;
let alice: ClientFiles;
let dir: string;
let forwardPort: number, directPort: number, tunnelPort: number;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-halfclose-'));
  pki = await mintPki(['IP:127.0.0.1'], dir);
  alice = await pki.client('alice', ['developers']);
  redis = await startRedis();
  [forwardPort, directPort, tunnelPort] = await Promise.all([freePort(), freePort(), freePort()]);
  gh = await startGatehouse(
    `pki: ./pki
portForwards:
  plain:
    address: 127.0.0.1
    forwards:
      - { listen: ${forwardPort}, target: "127.0.0.1:${redis.port}" }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${tunnelPort}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${directPort}", target: "127.0.0.1:${redis.port}" }
admin:
  enabled: false
`,
    { dir },
  );
});

after(async () => {
  await gh?.stop();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A malformed multibulk length: redis answers with a protocol error and closes. */
const BAD = '*1\r\n$abc\r\n';
const JUNK = Buffer.alloc(1024, 'x');

interface Outcome {
  readonly got: string;
  readonly error: string | undefined;
}

/**
 * Send BAD, then keep sending a kilobyte every few milliseconds (a client streaming a pipeline) until
 * the connection closes: what came back, and any error. Paced rather than as fast as possible: a
 * Node client whose own write fails with EPIPE is destroyed before it reads what had arrived,
 * directly against redis too, which is not what this is about.
 */
function talk(socket: net.Socket | tls.TLSSocket): Promise<Outcome> {
  return new Promise((resolve) => {
    let got = '';
    let error: string | undefined;
    let writes = 0;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    let timer: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ got, error });
    });
    // The same shape over TCP and TLS: the bad command alone once the connection is up (for TLS,
    // once the handshake is done), the stream behind it.
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
      socket.write(BAD);
      timer = setInterval(() => {
        // Bounded: a connection that never ends fails on the assertions, not by hanging.
        if (socket.destroyed || socket.writableEnded) return;
        if (writes++ > 2000) return void socket.end();
        socket.write(JUNK);
      }, 5);
    });
  });
}

function tlsClient(port: number): tls.TLSSocket {
  return tls.connect({
    host: '127.0.0.1',
    port,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
  });
}

test('through a plain port forward the client reads the protocol error', async () => {
  const r = await talk(net.connect(forwardPort, '127.0.0.1'));
  assert.match(r.got, /^-ERR Protocol error[^\r]*\r\n/, `got ${JSON.stringify(r.got)}, error ${r.error}`);
});

test('through a TLS direct listener the client reads the protocol error too', async () => {
  const r = await talk(tlsClient(directPort));
  assert.match(r.got, /^-ERR Protocol error[^\r]*\r\n/, `got ${JSON.stringify(r.got)}, error ${r.error}`);
});

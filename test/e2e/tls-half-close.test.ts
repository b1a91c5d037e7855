// Half-close over TLS as over TCP: a real redis-server answers a malformed command with
// "-ERR Protocol error…" and closes while the client is still sending. Through a plain port forward
// the client reads that answer; through every TLS face of an access endpoint (a direct listener, the
// tunnel over HTTP/1.1 and over HTTP/2, and `gatehouse connect` in front of it) it must read it too,
// whole, then the end of its stream, while what it still sends is read and dropped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { freePort, startRedis, stopProcess, track, type Server } from '../helpers/procs.js';
import { CLI, clientConfig, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
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
/**
 * Sent right behind BAD: more than redis reads before it answers and closes, so it closes with
 * bytes unread and the kernel resets the connection (RST, not FIN) right behind the answer. That
 * reset is what a relay must not pass on to the client ahead of the answer.
 */
const BURST = Buffer.alloc(256 * 1024, 'y');

interface Outcome {
  readonly got: string;
  readonly error: string | undefined;
}

/**
 * Send BAD, then keep sending a kilobyte every few milliseconds (a client streaming a pipeline) until
 * the connection closes: what came back, and any error. Paced rather than as fast as possible: a
 * Node client whose own write fails with EPIPE is destroyed before it reads what had arrived,
 * directly against redis too, which is not what this is about. `ready` is when the stream is up (a
 * TCP connect, a TLS handshake, a CONNECT's 200): the bad command goes alone then, the stream after.
 */
function talk(stream: Duplex, ready: Promise<unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    let got = '';
    let error: string | undefined;
    let writes = 0;
    stream.setEncoding('latin1');
    stream.on('data', (d: string) => (got += d));
    stream.resume();
    stream.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    let timer: NodeJS.Timeout | undefined;
    stream.on('close', () => {
      clearInterval(timer);
      resolve({ got, error });
    });
    ready.then(
      () => {
        stream.write(Buffer.concat([Buffer.from(BAD), BURST]));
        timer = setInterval(() => {
          // Bounded: a connection that never ends fails on the assertions, not by hanging.
          if (stream.destroyed || stream.writableEnded) return;
          if (writes++ > 2000) return void stream.end();
          stream.write(JUNK);
        }, 5);
      },
      (err: Error) => {
        error ??= err.message;
        stream.destroy();
      },
    );
  });
}

function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
}

/** The answer, whole, then a clean end: no reset while the client was still sending. */
function expectProtocolError(r: Outcome): void {
  assert.match(r.got, /^-ERR Protocol error[^\r]*\r\n/, `got ${JSON.stringify(r.got)}, error ${r.error}`);
  assert.equal(r.error, undefined, `the stream ended with ${r.error} after ${JSON.stringify(r.got)}`);
}

function tlsClient(port: number, alpn?: string[]): tls.TLSSocket {
  return tls.connect({
    host: '127.0.0.1',
    port,
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
    ...(alpn ? { ALPNProtocols: alpn } : {}),
  });
}

test('through a plain port forward the client reads the protocol error', async () => {
  const socket = net.connect(forwardPort, '127.0.0.1');
  expectProtocolError(await talk(socket, connected(socket)));
});

test('through a TLS direct listener the client reads the protocol error too', async () => {
  const socket = tlsClient(directPort);
  expectProtocolError(await talk(socket, connected(socket)));
});

test('through the tunnel over HTTP/1.1 the client reads the protocol error too', async () => {
  const socket = tlsClient(tunnelPort, ['http/1.1']);
  // The CONNECT's 200 comes first; what follows it is the target's bytes, read by talk().
  const established = connected(socket).then(
    () =>
      new Promise<void>((resolve, reject) => {
        socket.write(`CONNECT 127.0.0.1:${redis.port} HTTP/1.1\r\nHost: 127.0.0.1:${redis.port}\r\n\r\n`);
        let head = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.removeListener('data', onData);
          socket.pause(); // talk() resumes it once its own listener is on
          const status = head.subarray(0, end).toString('latin1');
          if (!/^HTTP\/1\.1 200 /.test(status)) return reject(new Error(status));
          const rest = head.subarray(end + 4);
          if (rest.length > 0) socket.unshift(rest);
          resolve();
        };
        socket.on('data', onData);
      }),
  );
  // talk() reads only once the 200 has been taken off the stream.
  await established.catch(() => {});
  expectProtocolError(await talk(socket, established));
});

test('through the tunnel over HTTP/2 the client reads the protocol error too', async () => {
  const session = http2.connect(`https://127.0.0.1:${tunnelPort}`, {
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(alice.cert),
    key: fs.readFileSync(alice.key),
  });
  session.on('error', () => {});
  try {
    const stream = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${redis.port}` });
    const response = new Promise<void>((resolve, reject) => {
      stream.once('response', (h) =>
        h[':status'] === 200 ? resolve() : reject(new Error(`status ${h[':status']}`)),
      );
      stream.once('error', reject);
    });
    const r = await talk(stream, response);
    expectProtocolError(r);
    // The stream ended rather than being reset: the answer is whole and no error code came with it.
    assert.equal(stream.rstCode ?? 0, http2.constants.NGHTTP2_NO_ERROR, `rstCode ${stream.rstCode}`);
  } finally {
    session.close();
  }
});

test('through gatehouse connect in front of the tunnel the client reads the protocol error too', async () => {
  const profile = path.join(dir, 'alice.profile');
  const made = await clientConfig(gh!, 'dev', 'alice', profile);
  assert.equal(made.code, 0, made.stderr);
  const local = await freePort();
  const proc = track(
    spawn(process.execPath, [CLI, 'connect', profile, '--forward', `${local}:127.0.0.1:${redis.port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  try {
    let err = '';
    proc.stderr!.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      proc.stderr!.on('data', (d: string) => {
        err += d;
        if (/listening on/.test(err)) resolve();
      });
      proc.once('exit', () => reject(new Error(`connect exited: ${err}`)));
    });
    const socket = net.connect(local, '127.0.0.1');
    expectProtocolError(await talk(socket, connected(socket)));
  } finally {
    await stopProcess(proc);
  }
});

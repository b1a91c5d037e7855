// Port forwards on loopback with real servers and clients: redis-cli, memcached tools, half-close,
// backpressure, a target that is down, idle and connect timeouts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, run, startMemcached, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';

let redis: Server;
let memcached: Server;
let gh: Gatehouse;
const ports = {} as Record<'redis' | 'memcached' | 'dead' | 'echo' | 'idle' | 'stuck' | 'sink', number>;
let deadPort: number;
let echoServer: net.Server;
let echoPort: number;
let stuck: ChildProcess;
let stuckPort: number;
const stuckClients: net.Socket[] = [];

before(async () => {
  redis = await startRedis();
  memcached = await startMemcached();
  deadPort = await freePort();
  // Echo that answers only after the client half-closes: proves the FIN is relayed and the reply
  // still comes back on the half-open connection.
  echoServer = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end(Buffer.concat([Buffer.from('got:'), ...chunks])));
  });
  echoServer.listen(0, '127.0.0.1');
  await once(echoServer, 'listening');
  echoPort = (echoServer.address() as net.AddressInfo).port;
  // A listener that never accepts, its queue filled: SYNs to it go unanswered, as to a firewalled
  // host, so a dial to it can only time out. (Node's own servers always accept in libuv.)
  stuck = spawn(
    'python3',
    [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(stuck.stdout!, 'data')) as [Buffer];
  stuckPort = Number(line.toString().trim());
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port: stuckPort, host: '127.0.0.1' });
    s.on('error', () => {});
    stuckClients.push(s);
  }
  for (const name of ['redis', 'memcached', 'dead', 'echo', 'idle', 'stuck', 'sink'] as const)
    ports[name] = await freePort();
  gh = await startGatehouse(`
securityGroups:
  local:
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.0/8" }
portForwards:
  main:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: "${ports.redis}", target: "127.0.0.1:${redis.port}" }
      - { listen: "${ports.memcached}", target: "127.0.0.1:${memcached.port}" }
      - { listen: "${ports.dead}", target: "127.0.0.1:${deadPort}" }
      - { listen: "${ports.echo}", target: "127.0.0.1:${echoPort}" }
      - { listen: "${ports.sink}", target: "127.0.0.1:${echoPort}" }
  slow:
    address: 127.0.0.1
    securityGroups: [local]
    idleTimeout: 300ms
    connectTimeout: 400ms
    forwards:
      - { listen: "${ports.idle}", target: "127.0.0.1:${echoPort}" }
      - { listen: "${ports.stuck}", target: "127.0.0.1:${stuckPort}" }
admin:
  enabled: false
`);
});

after(async () => {
  await gh?.stop();
  await redis?.stop();
  await memcached?.stop();
  echoServer?.close();
  for (const s of stuckClients) s.destroy();
  stuck?.kill();
});

test('redis-cli through a forward: SET, GET, and a session in the audit trail', async () => {
  const r = await run('redis-cli', ['-p', String(ports.redis), '--no-raw'], {
    input: 'SET gh:k hello\nGET gh:k\nDBSIZE\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK\n"hello"\n\(integer\) 1/);
  const closed = await gh.waitForAudit(
    (l) => l.event === 'closed' && String(l.listener).endsWith(`:${ports.redis}`),
  );
  assert.equal(closed.face, 'portForward');
  assert.equal(closed.target, `127.0.0.1:${redis.port}`);
  assert.ok(Number(closed.bytesFromClient) > 20 && Number(closed.bytesToClient) > 10, JSON.stringify(closed));
  assert.ok(typeof closed.durationMs === 'number');
  assert.ok(['client_closed', 'target_closed'].includes(String(closed.reason)));
  const accepted = await gh.waitForAudit((l) => l.event === 'accepted' && l.session === closed.session);
  assert.equal(accepted.reason, 'ingress_rule_matched');
  assert.match(String(accepted.where), /gatehouse\.yaml:5$/);
});

test('memcached tools through a forward', async () => {
  const server = `--servers=127.0.0.1:${ports.memcached}`;
  const stat = await run('memcstat', [server]);
  assert.equal(stat.code, 0, stat.stderr);
  assert.match(stat.stdout, /pid: \d+/);
  const set = await run('bash', [
    '-c',
    `printf 'set k1 0 0 5\\r\\nvalue\\r\\nget k1\\r\\nquit\\r\\n' | nc -N 127.0.0.1 ${ports.memcached}`,
  ]);
  assert.match(set.stdout, /STORED\r\nVALUE k1 0 5\r\nvalue\r\nEND/);
  const cat = await run('memccat', [server, 'k1']);
  assert.equal(cat.stdout.trim(), 'value');
});

test('half-close: the client FIN reaches the target and the reply still arrives', async () => {
  const s = net.connect({ port: ports.echo, host: '127.0.0.1', allowHalfOpen: true });
  await once(s, 'connect');
  s.end('ping-after-fin');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  await once(s, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'got:ping-after-fin');
  s.destroy();
});

test('a target that refuses: the client is closed promptly, logged, and the listener keeps serving', async () => {
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const s = net.connect({ port: ports.dead, host: '127.0.0.1' });
    s.on('error', () => {});
    await once(s, 'close');
    assert.ok(Date.now() - started < 2000, 'closed promptly');
  }
  const failed = await gh.waitForAudit(
    (l) => l.event === 'dial_failed' && l.reason === 'GH_ERR_DIAL_REFUSED',
  );
  assert.equal(failed.target, `127.0.0.1:${deadPort}`);
  const r = await run('redis-cli', ['-p', String(ports.redis), 'PING']);
  assert.equal(r.stdout.trim(), 'PONG');
});

test('connect timeout: a target that never answers the SYN', async () => {
  const s = net.connect({ port: ports.stuck, host: '127.0.0.1' });
  s.on('error', () => {});
  const started = Date.now();
  await once(s, 'close');
  const waited = Date.now() - started;
  assert.ok(waited >= 300, `closed after ${waited} ms, before the 400 ms connect timeout`);
  const failed = await gh.waitForAudit(
    (l) => l.event === 'dial_failed' && l.reason === 'GH_ERR_DIAL_TIMEOUT',
  );
  assert.equal(failed.target, `127.0.0.1:${stuckPort}`);
});

test('idle timeout closes a silent session and says so', async () => {
  const s = net.connect({ port: ports.idle, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  await once(s, 'close');
  const closed = await gh.waitForAudit(
    (l) =>
      l.event === 'closed' && l.reason === 'idle_timeout' && String(l.listener).endsWith(`:${ports.idle}`),
  );
  assert.equal(closed.target, `127.0.0.1:${echoPort}`);
});

test('backpressure: a target that does not read stops the gateway reading from the client', async () => {
  // A target that accepts and never reads.
  const held: net.Socket[] = [];
  const sink = net.createServer((sock) => {
    sock.pause();
    held.push(sock);
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const sinkPort = (sink.address() as net.AddressInfo).port;
  const listen = await freePort();
  const gh2 = await startGatehouse(`
portForwards:
  bp:
    address: 127.0.0.1
    forwards:
      - { listen: "${listen}", target: "127.0.0.1:${sinkPort}" }
admin:
  enabled: false
`);
  try {
    const c = net.connect({ port: listen, host: '127.0.0.1' });
    await once(c, 'connect');
    const chunk = Buffer.alloc(1 << 20, 7);
    let accepted = 0;
    // Write for a while: every write the kernel takes counts. Without backpressure the gateway
    // would keep reading, so the client could push all 256 MiB.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline && accepted < 256 << 20) {
      if (c.write(chunk)) accepted += chunk.length;
      else {
        accepted += chunk.length;
        const drained = await Promise.race([
          once(c, 'drain').then(() => true),
          new Promise((r) => setTimeout(() => r(false), 300)),
        ]);
        if (!drained) break;
      }
    }
    assert.ok(accepted < 64 << 20, `client pushed ${accepted >> 20} MiB into a target that reads nothing`);
    c.destroy();
  } finally {
    for (const h of held) h.destroy();
    sink.close();
    await gh2.stop();
  }
});

// After many sessions of every ending (client closes, target closes, refused by a security group,
// target down) and a shutdown, the port forward leaves no socket, timer, listener or registry entry
// behind (apify/proxy-chain's ee-memory-leak test does this for listeners).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { auditChannel } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { assertNoGrowth, resourceCounts, until } from '../helpers/leaks.js';
import { freePort } from '../helpers/procs.js';

/** A target that echoes, and closes its side when it reads "bye". */
async function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => (d.toString().includes('bye') ? s.end() : s.write(d)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** One session: send, read the echo, then close from the client or ask the target to. */
async function session(port: number, closer: 'client' | 'target'): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('ping');
  await once(s, 'data');
  if (closer === 'client') s.end();
  else s.write('bye');
  await new Promise((resolve) => s.once('close', resolve));
}

/** A connection that Gatehouse refuses or cannot carry: it ends without an echo. */
async function refused(port: number): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.resume();
  // Not once(): a reset is this connection's expected end, and once() would reject on its error.
  await new Promise((resolve) => s.once('close', resolve));
}

test('port forward: 200 sessions and a shutdown leave nothing behind', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-leak-pf-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const target = await echoServer();
  t.after(() => target.close());
  const targetPort = (target.address() as net.AddressInfo).port;
  const down = await freePort(); // nothing listens here: every dial fails
  const [open, closed, gone] = [await freePort(), await freePort(), await freePort()];
  const text = `securityGroups:
  local: { ingress: [{ protocol: tcp, ports: all, source: 127.0.0.1/32 }] }
  elsewhere: { ingress: [{ protocol: tcp, ports: all, source: 192.0.2.1/32 }] }
portForwards:
  open:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: '${open}', target: '127.0.0.1:${targetPort}' }
      - { listen: '${gone}', target: '127.0.0.1:${down}' }
  closed:
    address: 127.0.0.1
    securityGroups: [elsewhere]
    forwards:
      - { listen: '${closed}', target: '127.0.0.1:${targetPort}' }
admin:
  enabled: false
`;
  const baseline = resourceCounts();
  const runtime = new Runtime(pino({ level: 'silent' }));
  t.after(() => runtime.shutdown(0));
  const onAudit = (e: unknown) => {
    if (process.env.LEAK_DEBUG) console.error(JSON.stringify(e));
  };
  auditChannel.subscribe(onAudit);
  t.after(() => auditChannel.unsubscribe(onAudit));
  const report = await runtime.apply(parseConfig(text, path.join(dir, 'gatehouse.yaml'), dir));
  assert.deepEqual(report.failed, []);
  const listening = resourceCounts();

  for (let round = 0; round < 20; round++) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) batch.push(session(open, 'client'), session(open, 'target'));
    batch.push(refused(closed), refused(gone));
    await Promise.all(batch);
  }
  await until(() => runtime.sessions.size === 0, 'the session registry to empty');
  // Sockets close over a few turns of the event loop after their sessions leave the registry.
  await until(
    () => (resourceCounts().TCPSocketWrap ?? 0) <= (listening.TCPSocketWrap ?? 0),
    'sockets to close',
  );
  assertNoGrowth(listening, resourceCounts(), 'after 240 connections');

  await runtime.shutdown(0);
  await until(
    () => (resourceCounts().TCPServerWrap ?? 0) <= (baseline.TCPServerWrap ?? 0),
    'listeners to close',
  );
  assertNoGrowth(baseline, resourceCounts(), 'after shutdown');
});

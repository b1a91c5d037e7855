// The access endpoint face in-process, through the runtime's narrow interface: sessions are listed
// with identity and certificate serial, terminated by id, and the runtime's shutdown leaves no
// listener or session behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { auditChannel, type AuditEvent } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { freePort, startRedis, type Server } from '../helpers/procs.js';

let pki: TestPki;
let alice: ClientFiles;
let redis: Server;
let runtime: Runtime;
let port: number;
const events: AuditEvent[] = [];
const onAudit = (e: unknown) => events.push(e as AuditEvent);

before(async () => {
  const dir = fs.mkdtempSync('/tmp/gh-access-rt-');
  pki = await mintPki(['IP:127.0.0.1'], dir);
  alice = await pki.client('alice', ['developers']);
  redis = await startRedis();
  port = await freePort();
  const tunnel = await freePort();
  const text = `pki: ./pki
accessEndpoints:
  dev:
    listen: "127.0.0.1:${tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${port}", target: "127.0.0.1:${redis.port}" }
admin:
  enabled: false
`;
  const loaded = parseConfig(text, path.join(dir, 'gatehouse.yaml'), dir);
  runtime = new Runtime(pino({ level: 'silent' }));
  auditChannel.subscribe(onAudit);
  const report = await runtime.apply(loaded);
  assert.deepEqual(report.failed, []);
});

after(async () => {
  auditChannel.unsubscribe(onAudit);
  await runtime?.shutdown(0);
  await redis?.stop();
});

function open(c: ClientFiles): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(pki.ca),
      cert: fs.readFileSync(c.cert),
      key: fs.readFileSync(c.key),
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

test('sessions are listed with identity and serial, and terminated by id', async () => {
  const s = await open(alice);
  s.write('PING\r\n');
  const [reply] = (await once(s, 'data')) as [Buffer];
  assert.equal(reply.toString(), '+PONG\r\n');
  const list = runtime.sessions.list((x) => x.face === 'accessEndpoint');
  assert.equal(list.length, 1);
  const [info] = list;
  assert.equal(info!.identity, 'alice');
  assert.equal(info!.serial, alice.serial.replace(/^0+/, ''));
  assert.equal(info!.target, `127.0.0.1:${redis.port}`);
  assert.equal(info!.bytesFromClient, 6);
  assert.equal(info!.bytesToClient, 7);
  const closed = once(s, 'close');
  assert.equal(runtime.sessions.terminate(info!.id), true);
  await closed;
  await new Promise((r) => setImmediate(r));
  const end = events.find((e) => e.event === 'closed' && e.session === info!.id);
  assert.equal(end?.reason, 'terminated');
  assert.equal(runtime.sessions.size, 0);
  assert.equal(runtime.sessions.terminate(info!.id), false);
});

test('shutdown closes live sessions with reason shutdown and stops every listener', async () => {
  const s = await open(alice);
  s.write('PING\r\n');
  await once(s, 'data');
  const closed = once(s, 'close');
  await runtime.shutdown(0);
  await closed;
  assert.equal(runtime.sessions.size, 0);
  assert.ok(events.some((e) => e.event === 'closed' && e.reason === 'shutdown'));
  await assert.rejects(open(alice));
});

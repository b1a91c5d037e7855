// The access endpoint face in-process, through the runtime's narrow interface: sessions are listed
// with identity and certificate serial, terminated by id, and the runtime's shutdown leaves no
// listener or session behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { auditChannel, type AuditEvent } from '../../src/audit/events.js';
import { parseConfig } from '../../src/config/load.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { genCrl } from '../../src/pki/index.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { tempDir } from '../helpers/temp.js';
import { freePort, startRedis, type Server } from '../helpers/procs.js';

let pki: TestPki;
let alice: ClientFiles;
let redis: Server;
let runtime: Runtime;
let port: number;
const events: AuditEvent[] = [];
const onAudit = (e: unknown) => events.push(e as AuditEvent);
let dir: string | undefined;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-rt-'));
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
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
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

test('a broken CRL at start refuses every client; writing a good one recovers without a reload', async (t) => {
  const dir = tempDir(t, 'gh-access-rt2-');
  const p = await mintPki(['IP:127.0.0.1'], dir);
  const bob = await p.client('bob', ['developers']);
  fs.writeFileSync(path.join(p.dir, 'crl.pem'), 'garbage');
  const direct = await freePort();
  const text = `pki: ./pki
accessEndpoints:
  dev:
    listen: "127.0.0.1:${await freePort()}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", groups: [developers] }
    directListeners:
      - { listen: "127.0.0.1:${direct}", target: "127.0.0.1:${redis.port}" }
admin:
  enabled: false
`;
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const rt = new Runtime(log);
  try {
    await rt.apply(parseConfig(text, path.join(dir, 'gatehouse.yaml'), dir));
    assert.ok(logs.some((l) => l.includes('cannot load the PKI') && l.includes('GH_ERR_ACCESS_CRL')));
    const tryPing = () =>
      new Promise<string>((resolve) => {
        const s = tls.connect({
          host: '127.0.0.1',
          port: direct,
          ca: fs.readFileSync(p.ca),
          cert: fs.readFileSync(bob.cert),
          key: fs.readFileSync(bob.key),
        });
        let out = '';
        s.on('secureConnect', () => s.write('PING\r\n'));
        s.on('data', (d: Buffer) => {
          out += d.toString();
          s.destroy();
        });
        s.on('error', () => {});
        s.on('close', () => resolve(out));
      });
    assert.equal(await tryPing(), '');
    await genCrl(p.dir);
    const deadline = Date.now() + 3000;
    let reply = '';
    while (reply !== '+PONG\r\n' && Date.now() < deadline) reply = await tryPing();
    assert.equal(reply, '+PONG\r\n');
  } finally {
    await rt.shutdown(0);
  }
});

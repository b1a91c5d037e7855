// SNI must match the CONNECT host: in a namespace with no route out, a TLS origin of the test's own
// (a certificate for allowed.test) records each ClientHello it receives. A tunnel whose hello asks
// for another name (domain fronting, made with `openssl s_client -proxy … -servername other.test`)
// is refused with a TLS alert and an audit line naming both names, and the origin never sees that
// hello (its connection arrives empty); a matching hello is served end to end (curl); plain HTTP
// inside a CONNECT to a name is refused as sni_missing; `sniMustMatch: false` on a second proxy
// lets the fronting hello through, which shows the origin would have recorded it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { canUseNetns, Lab } from '../helpers/netns.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { curlVia, writeNetnsHosts } from '../helpers/egress-lab.js';
import { run, stopProcess, track } from '../helpers/procs.js';

const skip = canUseNetns ? false : 'needs root and ip netns';
const lab = new Lab();
let ns: string;
let gh: Gatehouse | undefined;
let dir: string;
let removeHosts: (() => void) | undefined;
let stopOrigin: (() => Promise<void>) | undefined;
const seen: Record<string, unknown>[] = [];
const PROXY = '127.0.0.1:3128';
const LAX = '127.0.0.1:3129';

async function startTlsOrigin(): Promise<void> {
  const key = path.join(dir, 'origin.key');
  const cert = path.join(dir, 'origin.crt');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=allowed.test',
    '-addext',
    'subjectAltName=DNS:allowed.test',
  ]);
  const arg = JSON.stringify({
    bind: '203.0.113.10:443',
    key: fs.readFileSync(key, 'utf8'),
    cert: fs.readFileSync(cert, 'utf8'),
  });
  const root = path.resolve(import.meta.dirname, '..', '..');
  const proc = track(
    spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/helpers/tls-origin.ts', arg],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: root },
    ),
  );
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      const l = JSON.parse(line) as Record<string, unknown>;
      if (l.ready) resolve();
      else seen.push(l);
    });
    proc.once('exit', (code) => reject(new Error(`tls origin exited with ${code}`)));
  });
  stopOrigin = () => stopProcess(proc);
}

/** Wait until the origin has printed a line that matches. */
async function originSaw(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const hit = seen.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the origin printed no such line; it printed:\n${JSON.stringify(seen)}`);
}

before(async () => {
  if (skip) return;
  ns = lab.host('sni');
  lab.addAddress(ns, '203.0.113.10/32');
  removeHosts = writeNetnsHosts(ns, [
    ['203.0.113.10', 'allowed.test'],
    ['203.0.113.10', 'other.test'],
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-sni-'));
  await startTlsOrigin();
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), 'allowed.test\n203.0.113.10\n');
  gh = await startGatehouse(
    `
egressProxies:
  strict:
    listen: ${PROXY}
    allowlist: allowlist.txt
    headersTimeout: 5s
  lax:
    listen: ${LAX}
    allowlist: allowlist.txt
    sniMustMatch: false
`,
    { netns: ns, dir },
  );
});

after(async () => {
  await gh?.stop();
  await stopOrigin?.();
  removeHosts?.();
  lab.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** openssl s_client through the proxy, asking for `servername` inside a CONNECT to allowed.test. */
function fronted(proxy: string, servername: string) {
  return run(
    'openssl',
    [
      's_client',
      '-proxy',
      proxy,
      '-connect',
      'allowed.test:443',
      '-servername',
      servername,
      '-CAfile',
      path.join(dir, 'origin.crt'),
    ],
    { netns: ns, input: 'GET / HTTP/1.0\r\n\r\n' },
  );
}

test('a ClientHello for another name is refused before it reaches the origin', { skip }, async () => {
  const before = seen.length;
  const r = await fronted(PROXY, 'other.test');
  assert.notEqual(r.code, 0, 'the handshake must fail');
  assert.match(r.stdout + r.stderr, /access denied/i, 'the client hears a TLS access_denied alert');
  const line = await gh!.waitForAudit((l) => l.reason === 'sni_mismatch');
  assert.equal(line.event, 'denied');
  assert.equal(line.allowed, false);
  assert.match(String(line.rule), /"other\.test".*"allowed\.test"/);
  assert.match(String(line.where), /gatehouse\.yaml:\d+/);
  // The proxy dialed (the CONNECT was allowed) but the origin was sent nothing at all.
  const conn = await originSaw((l) => typeof l.empty === 'number' && seen.indexOf(l) >= before);
  assert.ok(conn);
  assert.equal(
    seen.some((l) => l.serverName === 'other.test'),
    false,
    `the origin saw: ${JSON.stringify(seen)}`,
  );
});

test('a ClientHello for the CONNECT host is served end to end', { skip }, async () => {
  const r = await curlVia(`http://${PROXY}`, 'https://allowed.test/', {
    netns: ns,
    extra: ['--cacert', path.join(dir, 'origin.crt')],
  });
  assert.equal(r.connectStatus, 200);
  assert.equal(r.status, 200);
  assert.match(r.body, /^origin/);
  await originSaw((l) => l.serverName === 'allowed.test');
  const line = await gh!.waitForAudit((l) => l.event === 'closed' && l.reason === 'allowlist_matched');
  assert.equal(line.allowed, true);
});

test('plain HTTP inside a CONNECT to a name is refused as sni_missing', { skip }, async () => {
  const r = await curlVia(`http://${PROXY}`, 'http://allowed.test:443/', { netns: ns, tunnel: true });
  assert.equal(r.connectStatus, 200);
  assert.notEqual(r.status, 200);
  const line = await gh!.waitForAudit((l) => l.reason === 'sni_missing');
  assert.match(String(line.rule), /not TLS/);
  assert.equal(
    seen.some((l) => typeof l.notHello === 'number'),
    false,
    'the plain request never reached the origin',
  );
});

test(
  'sniMustMatch: false lets the fronting hello through (the origin would have seen it)',
  { skip },
  async () => {
    await fronted(LAX, 'other.test');
    await originSaw((l) => l.serverName === 'other.test');
  },
);

// Parity with Squid: the same allowlist.txt, the same request matrix, through Debian's real squid
// (dstdomain ACL + the default Safe_ports/SSL_ports rules) and through Gatehouse, in one namespace
// with no route out. Allow/deny decisions must be equal, except where Gatehouse is deliberately
// stricter (the destination guard), which each such case says.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canUseNetns, Lab } from '../helpers/netns.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import {
  curlVia,
  startOrigins,
  startSquid,
  writeNetnsHosts,
  type CurlResult,
  type Origins,
  type Squid,
} from '../helpers/egress-lab.js';

const haveSquid = (() => {
  try {
    execFileSync('squid', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = !canUseNetns ? 'needs root and ip netns' : !haveSquid ? 'needs squid' : false;
const lab = new Lab();
let ns: string;
let gh: Gatehouse | undefined;
let squid: Squid | undefined;
let origins: Origins | undefined;
let removeHosts: (() => void) | undefined;
let dir: string | undefined;

const ALLOWLIST = `# parity allowlist, as a team writes it for Squid
.example.com
api.github.com
Pypi.ORG
  files.pythonhosted.org
.Internal.Corp
203.0.113.11
10.9.9.9
registry.npmjs.org # npm
a1.org b1.org
*.wild.com
dotted.com.
`;

const NAMES = [
  'example.com',
  'www.example.com',
  'a.b.example.com',
  'notexample.com',
  'example.com.evil.test',
  'api.github.com',
  'github.com',
  'x.api.github.com',
  'pypi.org',
  'www.pypi.org',
  'files.pythonhosted.org',
  'internal.corp',
  'svc.internal.corp',
  'registry.npmjs.org',
  'a1.org',
  'b1.org',
  'foo.wild.com',
  'dotted.com',
];

type Mode = 'http' | 'connect';
interface Case {
  readonly host: string;
  readonly port: number;
  readonly mode: Mode;
  /** Set where Gatehouse denies on purpose what Squid allows: why. */
  readonly stricter?: string;
}

const c = (host: string, port: number, mode: Mode, stricter?: string): Case => ({
  host,
  port,
  mode,
  ...(stricter ? { stricter } : {}),
});
const GUARD = 'destination guard: 10.9.9.9 is private (RFC 1918); Squid has no such check';

const MATRIX: Case[] = [
  // allowlist semantics, plain HTTP on port 80
  c('example.com', 80, 'http'),
  c('www.example.com', 80, 'http'),
  c('a.b.example.com', 80, 'http'),
  c('EXAMPLE.COM', 80, 'http'),
  c('Www.Example.Com.', 80, 'http'),
  c('example.com.', 80, 'http'),
  c('notexample.com', 80, 'http'),
  c('example.com.evil.test', 80, 'http'),
  c('api.github.com', 80, 'http'),
  c('API.GITHUB.COM', 80, 'http'),
  c('github.com', 80, 'http'),
  c('x.api.github.com', 80, 'http'),
  c('pypi.org', 80, 'http'),
  c('www.pypi.org', 80, 'http'),
  c('files.pythonhosted.org', 80, 'http'),
  c('internal.corp', 80, 'http'),
  c('svc.internal.corp', 80, 'http'),
  c('registry.npmjs.org', 80, 'http'),
  c('a1.org', 80, 'http'),
  c('b1.org', 80, 'http'),
  c('foo.wild.com', 80, 'http'),
  c('dotted.com', 80, 'http'),
  // IP literals
  c('203.0.113.11', 80, 'http'),
  c('203.0.113.12', 80, 'http'),
  c('127.0.0.1', 80, 'http'),
  c('2130706433', 80, 'http'),
  c('10.9.9.9', 80, 'http', GUARD),
  // ports for plain HTTP (Safe_ports)
  c('example.com', 8080, 'http'),
  c('example.com', 443, 'http'),
  c('example.com', 70, 'http'),
  c('example.com', 22, 'http'),
  c('example.com', 1024, 'http'),
  c('notexample.com', 8080, 'http'),
  // CONNECT (SSL_ports: 443 only)
  c('example.com', 443, 'connect'),
  c('www.example.com', 443, 'connect'),
  c('EXAMPLE.COM', 443, 'connect'),
  c('example.com', 8443, 'connect'),
  c('example.com', 80, 'connect'),
  c('github.com', 443, 'connect'),
  c('api.github.com', 443, 'connect'),
  c('x.api.github.com', 443, 'connect'),
  c('internal.corp', 443, 'connect'),
  c('pypi.org', 22, 'connect'),
  c('203.0.113.11', 443, 'connect'),
  c('203.0.113.12', 443, 'connect'),
  c('dotted.com', 443, 'connect'),
  c('10.9.9.9', 443, 'connect', GUARD),
];

before(async () => {
  if (skip) return;
  ns = lab.host('parity');
  for (const a of ['203.0.113.10/32', '203.0.113.11/32', '203.0.113.12/32', '10.9.9.9/32'])
    lab.addAddress(ns, a);
  removeHosts = writeNetnsHosts(
    ns,
    NAMES.map((n) => ['203.0.113.10', n]),
  );
  origins = await startOrigins(
    ns,
    ['203.0.113.10', '203.0.113.11', '203.0.113.12', '10.9.9.9'].flatMap((a) =>
      [80, 443, 8080, 70, 22, 1024, 8443].map((p) => `${a}:${p}`),
    ),
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-parity-'));
  const list = path.join(dir, 'allowlist.txt');
  fs.writeFileSync(list, ALLOWLIST);
  squid = await startSquid(ns, list, 3129);
  gh = await startGatehouse(
    `
egressProxies:
  central:
    listen: "127.0.0.1:3128"
    allowlist: ./allowlist.txt
admin: { enabled: false }
`,
    { netns: ns, dir },
  );
});

after(async () => {
  await gh?.stop();
  await squid?.stop();
  await origins?.stop();
  removeHosts?.();
  lab.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function allowed(r: CurlResult, mode: Mode): boolean {
  const denied = (s: number) => s === 403 && /X-Squid-Error: ERR_ACCESS_DENIED 0/i.test(r.headers);
  return mode === 'connect'
    ? r.connectStatus !== 0 && !denied(r.connectStatus)
    : r.status !== 0 && !denied(r.status);
}

async function through(proxy: string, k: Case): Promise<CurlResult> {
  const authority = k.host.includes(':') ? `[${k.host}]:${k.port}` : `${k.host}:${k.port}`;
  return curlVia(proxy, `http://${authority}/parity`, {
    netns: ns,
    tunnel: k.mode === 'connect',
    timeout: 8,
  });
}

test(`Squid and Gatehouse decide the same on a ${MATRIX.length}-case matrix`, { skip }, async () => {
  assert.ok(MATRIX.length >= 40);
  const table: string[] = [];
  const mismatches: string[] = [];
  for (const k of MATRIX) {
    const [s, g] = await Promise.all([
      through('http://127.0.0.1:3129', k),
      through('http://127.0.0.1:3128', k),
    ]);
    const sa = allowed(s, k.mode);
    const ga = allowed(g, k.mode);
    const label = `${k.mode.padEnd(7)} ${k.host}:${k.port}`;
    table.push(
      `${label.padEnd(40)} squid=${sa ? 'allow' : 'deny '} gatehouse=${ga ? 'allow' : 'deny '}${k.stricter ? `  (stricter: ${k.stricter})` : ''}`,
    );
    if (k.stricter) {
      if (!(sa && !ga)) mismatches.push(`${label}: expected squid allow, gatehouse deny (${k.stricter})`);
    } else if (sa !== ga) {
      mismatches.push(`${label}: squid ${sa ? 'allows' : 'denies'}, gatehouse ${ga ? 'allows' : 'denies'}`);
    }
  }
  fs.mkdirSync('test-artifacts', { recursive: true });
  fs.writeFileSync('test-artifacts/egress-squid-parity.txt', table.join('\n') + '\n');
  assert.deepEqual(mismatches, [], table.join('\n'));
  // The matrix exercises both verdicts on both proxies.
  assert.ok(table.some((l) => l.includes('squid=allow gatehouse=allow')));
  assert.ok(table.some((l) => l.includes('squid=deny  gatehouse=deny')));
});

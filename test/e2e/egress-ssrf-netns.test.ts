// Leak tests: a namespace with no route out, where every forbidden address (cloud metadata,
// RFC 1918, CGNAT, loopback, ULA) is on the namespace's own `lo` and answered by a canary. The
// allowlist lets every name and address through, so the destination guard is the only thing in
// the way; a leak is a canary hit. A public-looking control origin shows a hit would be seen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canUseNetns, Lab } from '../helpers/netns.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { curlVia, startOrigins, writeNetnsHosts, type Origins } from '../helpers/egress-lab.js';

const skip = canUseNetns ? false : 'needs root and ip netns';
const lab = new Lab();
let ns: string;
let gh: Gatehouse | undefined;
let canaries: Origins | undefined;
let removeHosts: (() => void) | undefined;
let dir: string | undefined;
const PROXY = 'http://127.0.0.1:3128';

const ADDRESSES = [
  '169.254.169.254/32',
  '10.0.0.5/32',
  '192.168.1.5/32',
  '172.16.0.5/32',
  '100.64.0.5/32',
  '203.0.113.10/32',
  'fd00::5/128',
];
const CANARIES = [
  '169.254.169.254',
  '10.0.0.5',
  '192.168.1.5',
  '172.16.0.5',
  '100.64.0.5',
  '127.0.0.1',
  '[::1]',
  '[fd00::5]',
].flatMap((a) => [`${a}:80`, `${a}:443`]);
const CONTROL = ['203.0.113.10:80', '203.0.113.10:443'];

const HOSTS: [string, string][] = [
  ['169.254.169.254', 'metadata.test'],
  ['10.0.0.5', 'internal.test'],
  ['192.168.1.5', 'home.test'],
  ['172.16.0.5', 'corp.test'],
  ['100.64.0.5', 'cgnat.test'],
  ['fd00::5', 'ula.test'],
  ['127.0.0.1', 'loop.test'],
  ['::1', 'loop6.test'],
  ['203.0.113.10', 'public.test'],
];

/** How clients may write a forbidden destination. */
const VECTORS = [
  'metadata.test',
  'METADATA.TEST.',
  'internal.test',
  'home.test',
  'corp.test',
  'cgnat.test',
  'ula.test',
  'loop.test',
  'loop6.test',
  'localhost',
  '169.254.169.254',
  '169.254.169.254.',
  '2852039166',
  '0xa9fea9fe',
  '0xA9.0xFE.0xA9.0xFE',
  '0251.0376.0251.0376',
  '169.254.43518',
  '10.0.0.5',
  '012.0.0.05',
  '167772165',
  '10.5',
  '192.168.1.5',
  '3232235781',
  '0xc0a80105',
  '172.16.0.5',
  '100.64.0.5',
  '127.0.0.1',
  '127.1',
  '2130706433',
  '0x7f.1',
  '[::1]',
  '[::ffff:127.0.0.1]',
  '[::ffff:a9fe:a9fe]',
  '[0:0:0:0:0:ffff:a00:5]',
  '[fd00::5]',
];

before(async () => {
  if (skip) return;
  ns = lab.host('ssrf');
  for (const a of ADDRESSES) lab.addAddress(ns, a);
  removeHosts = writeNetnsHosts(ns, HOSTS);
  canaries = await startOrigins(ns, [...CANARIES, ...CONTROL]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-ssrf-'));
  // Everything is allowlisted: only the guard stands between a client and a canary.
  fs.writeFileSync(
    path.join(dir, 'allowlist.txt'),
    [
      '.test',
      'localhost',
      '169.254.169.254',
      '10.0.0.5',
      '192.168.1.5',
      '172.16.0.5',
      '100.64.0.5',
      '127.0.0.1',
      '::1',
      'fd00::5',
      '203.0.113.10',
    ].join('\n') + '\n',
  );
  gh = await startGatehouse(
    `
egressProxies:
  central:
    listen: "127.0.0.1:3128"
    allowlist: ./allowlist.txt
    connectPorts: "443"
    # The canaries speak plain HTTP, also inside CONNECT: no ClientHello to check.
    sniMissing: allow
admin: { enabled: false }
`,
    { netns: ns, dir },
  );
});

after(async () => {
  await gh?.stop();
  await canaries?.stop();
  removeHosts?.();
  lab.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('control: an allowed public destination is reached (so a leak would be seen)', { skip }, async () => {
  const r = await curlVia(PROXY, 'http://public.test/ok', { netns: ns });
  assert.equal(r.status, 200, r.headers);
  const t = await curlVia(PROXY, 'http://public.test:443/ok', { netns: ns, tunnel: true });
  assert.equal(t.connectStatus, 200, t.headers);
  assert.deepEqual(
    canaries!.hits.map((h) => h.hit),
    ['203.0.113.10:80', '203.0.113.10:443'],
  );
});

test(
  `${VECTORS.length} forbidden destinations, as plain HTTP and as CONNECT: all refused, no canary hit`,
  { skip },
  async () => {
    assert.ok(VECTORS.length >= 30);
    const outcomes: string[] = [];
    for (const v of VECTORS) {
      const http = await curlVia(PROXY, `http://${v}/latest/meta-data/`, { netns: ns });
      const tunnel = await curlVia(PROXY, `http://${v}:443/`, { netns: ns, tunnel: true });
      const reason = (s: string) => /X-Gatehouse-Reason: (\S+)/i.exec(s)?.[1] ?? '-';
      outcomes.push(
        `${v}: http ${http.status} ${reason(http.headers)}, connect ${tunnel.connectStatus} ${reason(tunnel.headers)}`,
      );
      assert.equal(http.status, 403, `${v} over HTTP: ${http.status}\n${http.headers}`);
      assert.equal(reason(http.headers), 'private_destination', v);
      assert.equal(
        tunnel.connectStatus,
        403,
        `${v} over CONNECT: ${tunnel.connectStatus}\n${tunnel.headers}`,
      );
      assert.equal(reason(tunnel.headers), 'private_destination', v);
    }
    const leaks = canaries!.hits.filter((h) => !CONTROL.includes(h.hit));
    assert.deepEqual(leaks, [], `leaks:\n${outcomes.join('\n')}`);
  },
);

test('refusals are audited with the class of address', { skip }, async () => {
  const a = await gh!.waitForAudit((l) => l.event === 'denied' && String(l.target).includes('metadata.test'));
  assert.equal(a.reason, 'private_destination');
  assert.equal(a.rule, 'link_local');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { parseConfig } from '../../src/config/load.js';
import { planPortForwards } from '../../src/policy/forward-plan.js';
import { planKernelForwards, renderNftables } from '../../src/policy/kernel-plan.js';
import { compileSecurityPolicy } from '../../src/policy/security-groups.js';
import { parseConntrackBytes, parseConntrackEvent } from '../../src/protocols/conntrack-events.js';

const loaded = parseConfig(
  `securityGroups:
  nat:
    ingress:
      - { ports: "6380-6381", source: "198.51.100.27/32" }
      - { ports: "6380", source: "sg:office" }
      - { ports: "6380", source: "2001:db8::/32" }
    egress:
      - { ports: "6379", destination: "10.0.1.0/24" }
  office:
    members: ["203.0.113.0/24"]
portForwards:
  k:
    dataPath: kernel
    securityGroups: [nat]
    forwards:
      - { listen: "6380", target: "10.0.1.231:6379" }
      - { listen: "6381", target: "10.0.9.1:6379" }
      - { listen: "6382", target: "redis.internal:6379" }
  open:
    address: 127.0.0.1
    dataPath: kernel
    forwards:
      - { listen: "16379", target: "127.0.0.1:6379" }
`,
  'k.yaml',
  os.tmpdir(),
);
const policy = compileSecurityPolicy(loaded.config, loaded.source);
const plan = planKernelForwards(
  loaded.config,
  policy,
  planPortForwards(loaded.config, loaded.source),
  () => undefined,
);

test('kernel plan: admitted IPv4 sources per port, egress and named targets left to userspace', () => {
  assert.equal(plan.rules.length, 2);
  const [nat, open] = plan.rules;
  assert.deepEqual(nat!.target, { host: '10.0.1.231', port: 6379 });
  assert.ok(nat!.admitted !== 'any');
  assert.deepEqual(
    (nat!.admitted as readonly { text: string }[]).map((c) => c.text),
    ['198.51.100.27/32', '203.0.113.0/24'],
  );
  assert.equal(open!.admitted, 'any');
  assert.deepEqual(
    plan.skipped.map((s) => s.bind),
    ['0.0.0.0:6381', '0.0.0.0:6382'],
  );
  assert.match(plan.skipped[0]!.reason, /egress denies/);
});

test('kernel plan renders one atomic nftables transaction', () => {
  const text = renderNftables(plan, { table: 'gatehouse', mark: 0x4748 });
  assert.match(text, /^add table ip gatehouse\ndelete table ip gatehouse\ntable ip gatehouse \{/);
  assert.match(text, /elements = \{ 198\.51\.100\.27\/32, 203\.0\.113\.0\/24 \}/);
  assert.match(
    text,
    /tcp dport 6380 fib daddr type local ip saddr @adm_0 tcp flags & \(syn \| ack\) == syn ct mark set 18248 dnat ip to 10\.0\.1\.231:6379 comment "k\.yaml:\d+"/,
  );
  assert.match(text, /tcp dport 16379 ip daddr 127\.0\.0\.1 tcp flags .* dnat ip to 127\.0\.0\.1:6379/);
  assert.equal(text.match(/dnat ip to/g)!.length, 4, 'prerouting and output each carry both rules');
  assert.match(text, /ct mark 18248 oifname != "lo" masquerade/);
});

const NEW_LINE =
  '    [NEW] tcp      6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=35494 dport=16379 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=7001 dport=35494 mark=18248 id=3461078496';
const TW_LINE =
  '[1795604071.777137]\t [UPDATE] tcp      6 120 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=45782 dport=16379 src=10.0.1.5 dst=10.0.0.2 sport=7001 dport=45782 [ASSURED] mark=18248 id=42';

test('conntrack event lines parse; anything else is ignored', () => {
  const ev = parseConntrackEvent(NEW_LINE)!;
  assert.equal(ev.type, 'NEW');
  assert.equal(ev.state, 'SYN_SENT');
  assert.equal(ev.id, '3461078496');
  assert.equal(ev.replySport, 7001);
  assert.equal(ev.mark, 18248);
  const tw = parseConntrackEvent(TW_LINE)!;
  assert.equal(tw.type, 'UPDATE');
  assert.equal(tw.state, 'TIME_WAIT');
  assert.equal(tw.replySrc, '10.0.1.5');
  for (const bad of [
    '',
    'conntrack v1.4.7 (conntrack-tools): 2 flow events have been shown.',
    '[NEW] udp 17 30 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 id=1',
    '[NEW] tcp 6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=0 dport=16379 id=1',
    '[NEW] tcp 6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=1 dport=2',
    NEW_LINE.replace('id=3461078496', 'id=x'),
    NEW_LINE + ' '.repeat(5000),
  ]) {
    assert.equal(parseConntrackEvent(bad), undefined, bad.slice(0, 60));
  }
  assert.deepEqual(
    parseConntrackBytes('tcp 6 118 TIME_WAIT src=a packets=6 bytes=347 src=b packets=4 bytes=221'),
    [347, 221],
  );
  assert.equal(parseConntrackBytes('no counters'), undefined);
});

test('fuzz: random and mutated conntrack lines never throw', () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = ' []=\t.:0123456789abcdefNEWUPDATEDSRYsrcdtpoikm_\n\u0000é';
  for (let i = 0; i < 5000; i++) {
    let line: string;
    if (i % 2 === 0) {
      const chars = Array.from(NEW_LINE);
      for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
        chars[Math.floor(rand() * chars.length)] = alphabet[Math.floor(rand() * alphabet.length)]!;
      }
      line = chars.slice(0, Math.floor(rand() * chars.length + 1)).join('');
    } else {
      line = Array.from(
        { length: Math.floor(rand() * 200) },
        () => alphabet[Math.floor(rand() * alphabet.length)],
      ).join('');
    }
    const ev = parseConntrackEvent(line);
    if (ev) {
      assert.ok(ev.sport > 0 && ev.sport < 65536 && ev.dport > 0 && ev.dport < 65536);
      assert.match(ev.id, /^\d+$/);
    }
  }
});

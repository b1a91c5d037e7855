import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { parseConfig } from '../../src/config/load.js';
import { isGatehouseError } from '../../src/errors.js';

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'g.yaml', '/nonexistent-base');
  } catch (err) {
    assert.ok(isGatehouseError(err), `unexpected error ${String(err)}`);
    assert.equal(err.code, 'GH_ERR_CONFIG_INVALID');
    return [...err.details];
  }
  return [];
}

const GOOD = `
securityGroups:
  cache-nat:
    ingress:
      - { protocol: tcp, ports: "11211-11213", source: "198.51.100.27/32" }
      - { protocol: tcp, ports: "6380-6385",   source: "sg:office" }
    egress:
      - { protocol: tcp, ports: "6379,11211", destination: "10.0.1.0/24" }
  office:
    members: ["203.0.113.0/24", "2001:db8:10::/48"]
clusters:
  sessions: { engine: redis, nodes: ["10.0.1.231:6379"] }
  web:      { engine: memcached, nodes: ["10.0.1.230:11211", "10.0.1.231:11211", "10.0.1.232:11211"] }
portForwards:
  nat:
    address: "0.0.0.0"
    securityGroups: [cache-nat]
    forwards:
      - { listen: "6380", target: "10.0.1.231:6379" }
      - { listen: "11211-11213", cluster: web }
admin:
  listen: "127.0.0.1:9480"
`;

test('a valid config loads, frozen, with defaults filled in', () => {
  const loaded = parseConfig(GOOD, 'g.yaml', os.tmpdir());
  assert.ok(Object.isFrozen(loaded.config));
  assert.ok(Object.isFrozen(loaded.config.portForwards.nat!.forwards[0]));
  assert.equal(loaded.config.portForwards.nat!.connectTimeout, 5000);
  assert.deepEqual(loaded.config.portForwards.nat!.forwards[1]!.listen, [11211, 11213]);
  assert.equal(loaded.config.securityGroups['cache-nat']!.ingress![0]!.source.kind, 'cidr');
});

test('every section of the interface is parsed now (access endpoints, egress proxies, audit)', () => {
  const p = problems(`
accessEndpoints:
  dev:
    listen: "0.0.0.0:8443"
    serverCertificate: server
    authorizationRules:
      - { target: "10.0.1.0/24", groups: [developers] }
      - { target: "10.0.2.10/32", allGroups: true }
      - { target: "10.0.3.0/24" }
    directListeners:
      - { listen: "0.0.0.0:6390", target: "cluster:nope" }
    sessionTimeout: 12x
egressProxies:
  central:
    listen: "0.0.0.0:3128"
    allowlist: ./allowlist.txt
    denyPrivateDestinations: maybe
audit:
  store: ./a.db
  colour: blue
`);
  const text = p.join('\n');
  assert.match(text, /^g\.yaml:9: .*exactly one of `groups/m);
  assert.match(text, /^g\.yaml:12: .*"12x" is not a duration/m);
  assert.match(text, /^g\.yaml:17: .*denyPrivateDestinations/m);
  assert.match(text, /^g\.yaml:20: unknown key "colour" in audit/m);
});

test('references and files are checked once the shape is right', () => {
  const p = problems(`
accessEndpoints:
  dev:
    listen: "0.0.0.0:8443"
    serverCertificate: server
    directListeners:
      - { listen: "0.0.0.0:6390", target: "cluster:nope" }
egressProxies:
  central:
    listen: "0.0.0.0:3128"
    allowlist: ./allowlist.txt
`);
  const text = p.join('\n');
  assert.match(text, /^g\.yaml:5: .*certificate "server" is not in the PKI.*build-server-full server/m);
  assert.match(text, /^g\.yaml:7: .*cluster "nope" is not defined/m);
  assert.match(text, /^g\.yaml:11: .*allowlist\.txt does not exist/m);
  assert.equal(p.length, 3, text);
});

// [name, yaml, expected line, message pattern]
const BROKEN: [string, string, number, RegExp][] = [
  ['unknown top-level key', 'securityGroups: {}\nportForwardz: {}\n', 2, /unknown key "portForwardz"/],
  [
    'unknown key in a rule',
    'securityGroups:\n  a:\n    ingress:\n      - { protocol: tcp, ports: "1", source: "10.0.0.0/8", sauce: x }\n',
    4,
    /unknown key "sauce"/,
  ],
  ['bad CIDR', 'securityGroups:\n  a:\n    members: ["10.0.0.300/8"]\n', 3, /not an IP address or CIDR/],
  [
    'CIDR with host bits',
    'securityGroups:\n  a:\n    members: ["10.0.0.1/8"]\n',
    3,
    /write "10\.0\.0\.0\/8"/,
  ],
  ['bad prefix', 'securityGroups:\n  a:\n    members: ["2001:db8::/129"]\n', 3, /bad prefix length/],
  [
    'backwards port range',
    'securityGroups:\n  a:\n    ingress:\n      - { ports: "90-80", source: "10.0.0.0/8" }\n',
    4,
    /runs backwards; write "80-90"/,
  ],
  [
    'port out of range',
    'securityGroups:\n  a:\n    ingress:\n      - { ports: "70000", source: "10.0.0.0/8" }\n',
    4,
    /out of range/,
  ],
  [
    'missing group',
    'securityGroups:\n  a:\n    ingress:\n      - { ports: "1", source: "sg:ghost" }\n',
    4,
    /security group "ghost" is not defined/,
  ],
  [
    'protocol other than tcp',
    'securityGroups:\n  a:\n    ingress:\n      - { protocol: udp, ports: "1", source: "10.0.0.0/8" }\n',
    4,
    /protocol must be "tcp"/,
  ],
  [
    'listener group missing',
    'portForwards:\n  nat:\n    securityGroups: [nope]\n    forwards:\n      - { listen: "6380", target: "127.0.0.1:6379" }\n',
    3,
    /security group "nope" is not defined/,
  ],
  [
    'two listeners on one address:port',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "6380", target: "127.0.0.1:6379" }\n  b:\n    address: "127.0.0.1"\n    forwards:\n      - { listen: "6379-6381", target: "127.0.0.1:7000-7002" }\n',
    8,
    /0\.0\.0\.0:6380 is already a listener of portForwards\.a|127\.0\.0\.1:6380 is already a listener of portForwards\.a/,
  ],
  [
    'forward colliding with admin',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "9480", target: "127.0.0.1:6379" }\n',
    4,
    /already a listener of admin|9480 is already a listener/,
  ],
  [
    'forward ranges of different sizes',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "7000-7002", target: "127.0.0.1:6379-6380" }\n',
    4,
    /target range has 2 ports but listen has 3/,
  ],
  [
    'forward with both target and cluster',
    'clusters:\n  c: { engine: redis, nodes: ["127.0.0.1:1"] }\nportForwards:\n  a:\n    forwards:\n      - { listen: "7000", target: "127.0.0.1:1", cluster: c }\n',
    6,
    /exactly one of `target/,
  ],
  [
    'missing cluster',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "7000", cluster: nope }\n',
    4,
    /cluster "nope" is not defined/,
  ],
  [
    'bad target',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "7000", target: "10.0.0.1" }\n',
    4,
    /has no port/,
  ],
  [
    'bad IPv4 target',
    'portForwards:\n  a:\n    forwards:\n      - { listen: "7000", target: "10.0.0.999:1" }\n',
    4,
    /not a valid IPv4/,
  ],
  ['missing required key', 'clusters:\n  c: { nodes: ["127.0.0.1:1"] }\n', 2, /engine/],
  ['YAML syntax error', 'securityGroups:\n  a: [\n', 3, /YAML/],
  ['duplicate key', 'securityGroups: {}\nsecurityGroups: {}\n', 2, /YAML: Map keys must be unique/],
  ['short admin token', 'admin:\n  token: short\n', 2, /at least 16 characters/],
];

for (const [name, yaml, line, pattern] of BROKEN) {
  test(`refused with FILE:LINE: ${name}`, () => {
    const p = problems(yaml);
    assert.ok(p.length > 0, 'expected problems');
    const hit = p.find((l) => pattern.test(l));
    assert.ok(hit, `no problem matched ${pattern}: ${JSON.stringify(p)}`);
    assert.ok(hit.startsWith(`g.yaml:${line}: `), `expected line ${line}: ${hit}`);
  });
}

test('binary data at the top and a list or mapping as a key are each one clear problem', () => {
  assert.deepEqual(problems('!!binary aGVsbG8gd29ybGQ=\n'), [
    'g.yaml:1: the top level must be a mapping of keys, not binary data (!!binary)',
  ]);
  assert.deepEqual(problems('admin:\n  enabled: false\n? [a, b]\n: x\n'), [
    'g.yaml:3: a key must be a plain value, not a list or mapping',
  ]);
  assert.deepEqual(problems('{ listen: x }: 1\n'), [
    'g.yaml:1: a key must be a plain value, not a list or mapping',
  ]);
});

test('all problems are reported at once, not just the first', () => {
  const p = problems(
    'securityGroups:\n  a:\n    members: ["bad"]\n  b:\n    members: ["10.0.0.1/8"]\nfoo: 1\n',
  );
  assert.equal(p.length, 3, JSON.stringify(p));
});

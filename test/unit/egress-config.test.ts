import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { isGatehouseError } from '../../src/errors.js';
import { compileProxy } from '../../src/faces/egress/compile.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir({ after }, 'gh-egress-config-');
fs.writeFileSync(path.join(dir, 'allowlist.txt'), '.example.com\n');
fs.writeFileSync(path.join(dir, 'users'), '');

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'g.yaml', dir);
  } catch (err) {
    assert.ok(isGatehouseError(err), `unexpected error ${String(err)}`);
    return [...err.details];
  }
  return [];
}

test('egress config: the DESIGN.md example loads, with Squid defaults', () => {
  const loaded = parseConfig(
    `egressProxies:
  central:
    listen: "0.0.0.0:3128"
    allowlist: ./allowlist.txt
    auth: { htpasswd: ./users }
    denyPrivateDestinations: true
`,
    'g.yaml',
    dir,
  );
  const p = loaded.config.egressProxies.central!;
  assert.equal(p.connectPorts.text, '443');
  assert.equal(p.httpPorts.text, '80,21,443,70,210,1025-65535,280,488,591,777');
  assert.equal(p.reportOnly, false);
  const s = compileProxy('central', p, loaded);
  assert.equal(s.rules.defaultAllowlist, path.join(dir, 'allowlist.txt'));
  assert.equal(s.rules.connectPortsWhere, 'g.yaml:2');
  assert.equal(s.guard.enabled, true);
});

test('egress config: policies, escape hatch and access log compile with FILE:LINE', () => {
  const loaded = parseConfig(
    `egressProxies:
  central:
    listen: 3128
    auth: { htpasswd: ./users }
    policies:
      - { name: data, users: [etl], allowlist: ./allowlist.txt }
      - { name: ci, sources: ["10.40.0.0/16"], allowlist: ./allowlist.txt }
    unsafeAllowPrivateDestinations: ["10.0.1.0/24"]
    accessLog: { path: ./access.json, format: json }
`,
    'g.yaml',
    dir,
  );
  const s = compileProxy('central', loaded.config.egressProxies.central!, loaded);
  assert.deepEqual(
    s.rules.policies.map((p) => [p.name, p.where]),
    [
      ['data', 'g.yaml:6'],
      ['ci', 'g.yaml:7'],
    ],
  );
  assert.equal(s.guard.allow[0]!.where, 'g.yaml:8');
  assert.equal(s.accessLog?.format, 'json');
  assert.equal(s.allowlistFiles.length, 1);
});

test('egress config: problems name the line and say what to write', () => {
  const got = problems(`egressProxies:
  a:
    listen: "127.0.0.1:3128"
  b:
    listen: "127.0.0.1:3129"
    policies:
      - { name: x, allowlist: ./allowlist.txt }
      - { name: y, users: [u], allowlist: ./missing.txt }
    unsafeAllowPrivateDestinations: ["10.0.1.5/24"]
    accessLog: ./no/such/dir/access.log
    bogus: 1
`);
  const text = got.join('\n');
  assert.match(text, /g\.yaml:7: .*needs `users: \[\.\.\.\]`, `sources: \[\.\.\.\]` or both/);
  assert.match(text, /g\.yaml:9: .*host bits set; write "10\.0\.1\.0\/24"/);
  assert.match(text, /g\.yaml:11: unknown key "bogus"/);
  const later = problems(`egressProxies:
  a:
    listen: "127.0.0.1:3128"
  b:
    listen: "127.0.0.1:3129"
    policies:
      - { name: y, users: [u], allowlist: ./missing.txt }
      - { name: y, sources: ["10.0.0.0/8"], allowlist: ./allowlist.txt }
    accessLog: ./no/such/dir/access.log
`).join('\n');
  assert.match(later, /g\.yaml:3: .*needs `allowlist: FILE` or `policies/);
  assert.match(later, /g\.yaml:7: .*needs `auth: \{ htpasswd: FILE \}`/);
  assert.match(later, /missing\.txt does not exist/);
  assert.match(later, /g\.yaml:8: .*policy name "y" is used twice/);
  assert.match(later, /g\.yaml:9: .*directory of access log/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveAdminToken, tokenMatches } from '../../src/admin/token.js';
import { plain, policyView } from '../../src/admin/views.js';
import { parseConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/temp.js';

function configIn(dir: string, text: string) {
  const file = path.join(dir, 'gatehouse.yaml');
  fs.writeFileSync(file, text);
  return parseConfig(text, file);
}

test('admin token: inline, from a file, or generated 0600 once and reused', (t) => {
  const dir = tempDir(t, 'gh-admin-token-');
  assert.deepEqual(resolveAdminToken(configIn(dir, 'admin:\n  token: "0123456789abcdef-inline"\n')), {
    token: '0123456789abcdef-inline',
    generated: false,
  });
  fs.writeFileSync(path.join(dir, 'tok'), '  from-a-file-0123456789\n');
  const fromFile = resolveAdminToken(configIn(dir, 'admin:\n  tokenFile: ./tok\n'));
  assert.equal(fromFile.token, 'from-a-file-0123456789');
  fs.writeFileSync(path.join(dir, 'short'), 'short\n');
  assert.throws(() => resolveAdminToken(configIn(dir, 'admin:\n  tokenFile: ./short\n')), {
    code: 'GH_ERR_ADMIN_TOKEN',
  });
  // Checked at load too; a file removed after the load is refused when the token is read.
  const gone = configIn(dir, 'admin:\n  tokenFile: ./tok\n');
  fs.rmSync(path.join(dir, 'tok'));
  assert.throws(() => resolveAdminToken(gone), { code: 'GH_ERR_ADMIN_TOKEN' });
  const first = resolveAdminToken(configIn(dir, '{}\n'));
  assert.equal(first.generated, true);
  assert.ok(first.token.length >= 32);
  assert.equal(fs.statSync(first.file!).mode & 0o777, 0o600);
  const second = resolveAdminToken(configIn(dir, '{}\n'));
  assert.equal(second.generated, false);
  assert.equal(second.token, first.token);
});

test('token comparison', () => {
  assert.equal(tokenMatches('abc', 'abc'), true);
  assert.equal(tokenMatches('abd', 'abc'), false);
  assert.equal(tokenMatches('abcd', 'abc'), false);
  assert.equal(tokenMatches('', ''), false, 'an empty expected token never matches');
});

test('policy view: CIDRs, port sets and group refs as text, each rule with FILE:LINE', (t) => {
  const dir = tempDir(t, 'gh-admin-view-');
  const loaded = configIn(
    dir,
    `securityGroups:
  office:
    members: ["203.0.113.0/24"]
  nat:
    ingress:
      - { ports: "6380-6385", source: "sg:office" }
    egress:
      - { ports: "6379", destination: "10.0.1.0/24" }
`,
  );
  const v = policyView(loaded) as {
    securityGroups: { name: string; ingress: unknown[]; egress: unknown[] | null; members: unknown }[];
  };
  const nat = v.securityGroups.find((g) => g.name === 'nat')!;
  assert.deepEqual(nat.ingress, [
    {
      protocol: 'tcp',
      ports: '6380-6385',
      source: 'sg:office',
      where: `${path.join(dir, 'gatehouse.yaml')}:6`,
    },
  ]);
  assert.deepEqual(nat.egress, [
    {
      protocol: 'tcp',
      ports: '6379',
      destination: '10.0.1.0/24',
      where: `${path.join(dir, 'gatehouse.yaml')}:8`,
    },
  ]);
  assert.equal(v.securityGroups.find((g) => g.name === 'office')!.egress, null);
  assert.deepEqual(plain({ host: '::1', port: 80 }), '[::1]:80');
});

// `gatehouse explain --client`: the access-endpoint decisions for one certificate's groups, with
// the rule and FILE:LINE that decided, and the certificate's status.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { mintPki, type TestPki } from '../helpers/access-pki.js';
import { run } from '../helpers/procs.js';
import { CLI } from '../helpers/gatehouse.js';
import { tempDir } from '../helpers/temp.js';

let pki: TestPki;
let config: string;
const dir = tempDir({ after }, 'gh-explain-');

before(async () => {
  pki = await mintPki(['DNS:gateway'], dir);
  await pki.client('alice', ['developers']);
  await pki.client('bob', ['ops']);
  await pki.client('mallory', ['developers']);
  await pki.revoke('mallory');
  config = path.join(path.dirname(pki.dir), 'gatehouse.yaml');
  fs.writeFileSync(
    config,
    `pki: ./pki
securityGroups:
  office:
    ingress:
      - { ports: "8443", source: "203.0.113.0/24" }
    egress:
      - { ports: "6379", destination: "10.0.1.0/24" }
accessEndpoints:
  dev:
    listen: "0.0.0.0:8443"
    serverCertificate: server
    securityGroups: [office]
    authorizationRules:
      - { target: "10.0.1.0/24", groups: [developers] }
      - { target: "10.0.1.99/32", groups: [ops] }
admin:
  enabled: false
`,
  );
});

const explain = (client: string, from: string, to: string) =>
  run(process.execPath, [CLI, 'explain', '-c', config, '--client', client, '--from', from, '--to', to]);

test('a developer reaches the cache network: ingress, authorization and egress each named', async () => {
  const r = await explain('alice', '203.0.113.7', '10.0.1.5:6379');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^client alice: groups developers; certificate valid/);
  assert.match(
    r.stdout,
    /^ALLOWED {2}alice from 203\.0\.113\.7 → 10\.0\.1\.5:6379 via accessEndpoints\.dev/m,
  );
  assert.match(
    r.stdout,
    /authorization +10\.0\.1\.5:6379: allowed by authorization rule 1 .* at .*gatehouse\.yaml:14/,
  );
  assert.match(r.stdout, /egress +10\.0\.1\.5:6379: allowed by group office egress rule 1/);
});

test('the most specific rule decides: 10.0.1.99 is for ops only', async () => {
  const r = await explain('alice', '203.0.113.7', '10.0.1.99:6379');
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    /not_in_authorized_group|covers the target, but the client's groups \(developers\) are not in it/,
  );
  assert.match(r.stdout, /gatehouse\.yaml:15/);
  assert.equal((await explain('bob', '203.0.113.7', '10.0.1.99:6379')).code, 0);
});

test('outside the security group, or revoked: denied, and says why', async () => {
  const outside = await explain('alice', '198.51.100.1', '10.0.1.5:6379');
  assert.equal(outside.code, 1);
  assert.match(outside.stdout, /ingress .*denied: no ingress rule of group\(s\) office matched/);
  const revoked = await explain('mallory', '203.0.113.7', '10.0.1.5:6379');
  assert.equal(revoked.code, 1);
  assert.match(revoked.stdout, /certificate revoked/);
  const unknown = await explain('nobody', '203.0.113.7', '10.0.1.5:6379');
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /GH_ERR_PKI_NOT_ISSUED|nobody/);
});

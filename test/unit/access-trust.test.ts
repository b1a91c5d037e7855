import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkCrl, loadTrust, normaliseSerial, reloadCrl } from '../../src/faces/access/trust.js';
import { mintPki } from '../helpers/access-pki.js';
import { tempDir } from '../helpers/temp.js';

const SERIALS: [string, string][] = [
  ['00C0DA852D19', 'C0DA852D19'],
  ['c0:da:85:2d:19', 'C0DA852D19'],
  ['0', '0'],
  ['000', '0'],
  ['77fe44a0839201f42c2e853c5c7acf72', '77FE44A0839201F42C2E853C5C7ACF72'],
];
for (const [input, want] of SERIALS) {
  test(`normaliseSerial(${input}) = ${want}`, () => assert.equal(normaliseSerial(input), want));
}

test('CRLs: a good one loads with its revoked serials; garbage and foreign CRLs are refused with the reason', async (t) => {
  const a = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-trust-a-'));
  const b = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-trust-b-'));
  const bob = await a.client('bob', []);
  await a.revoke('bob');
  const trust = await loadTrust(a.dir);
  assert.ok(trust.crl?.revoked.has(normaliseSerial(bob.serial)));
  const caPem = fs.readFileSync(a.ca, 'utf8');
  const refused = async (pem: string, why: RegExp) =>
    assert.rejects(checkCrl(pem, caPem, 'crl.pem'), (err: { code: string; message: string }) => {
      assert.equal(err.code, 'GH_ERR_ACCESS_CRL');
      assert.match(err.message, why);
      return true;
    });
  await refused('hello', /not a PEM CRL/);
  await refused('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', /not a PEM CRL/);
  await refused(fs.readFileSync(path.join(b.dir, 'crl.pem'), 'utf8'), /not signed by the PKI CA/);
  // A refused reload keeps the old Trust; an unchanged file returns the same object.
  assert.equal(await reloadCrl(trust), trust);
  fs.copyFileSync(path.join(b.dir, 'crl.pem'), path.join(a.dir, 'crl.pem'));
  await assert.rejects(reloadCrl(trust), { code: 'GH_ERR_ACCESS_CRL' });
});

test('a PKI without crl.pem loads with no CRL', async (t) => {
  const a = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-trust-'));
  fs.rmSync(path.join(a.dir, 'crl.pem'));
  const trust = await loadTrust(a.dir);
  assert.equal(trust.crl, undefined);
});

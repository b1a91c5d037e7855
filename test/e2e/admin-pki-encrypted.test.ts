// Revoking from the admin API when the CA key is encrypted: the daemon cannot prompt, so without a
// passphrase it must refuse before anything changes (a revoked but unpublished certificate still
// gets in, and a retry would only say "already revoked"); with EASYRSA_PASSIN, as easy-rsa reads
// it, it revokes and signs the CRL, and the passphrase reaches no log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCa, buildFull, genCrl, initPki, listCertificates } from '../../src/pki/index.js';
import { opensslVerify } from '../helpers/access-pki.js';
import { startAdminLab, type AdminLab } from '../helpers/admin-lab.js';
import { freePort } from '../helpers/procs.js';

const SECRET = 'ca-secret-7f3e9b';

function assertNoSecret(lab: AdminLab): void {
  for (const l of [...lab.gh.logs, ...lab.gh.audit])
    assert.ok(!JSON.stringify(l).includes(SECRET), 'passphrase logged');
}

test('API revoke with an encrypted CA key: refused whole without a passphrase, signed with EASYRSA_PASSIN', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-admin-pki-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pki = path.join(dir, 'pki');
  initPki(pki);
  await buildCa(pki, { commonName: 'Locked CA', passout: SECRET });
  await buildFull(pki, 'client', 'alice', { passin: SECRET });
  await buildFull(pki, 'client', 'bob', { passin: SECRET });
  await genCrl(pki, { passin: SECRET });
  const aliceCert = path.join(dir, 'alice.crt');
  fs.copyFileSync(path.join(pki, 'issued', 'alice.crt'), aliceCert);
  const passFile = path.join(dir, 'ca-pass');
  fs.writeFileSync(passFile, `${SECRET}\n`, { mode: 0o600 });
  const config = `
pki: ./pki
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${await freePort()}", target: "127.0.0.1:9" }
admin:
  listen: "127.0.0.1:${await freePort()}"
`;
  const status = (name: string) => listCertificates(pki).records.find((r) => r.name === name)?.status;

  const locked = await startAdminLab(config, { dir });
  try {
    const index = fs.readFileSync(path.join(pki, 'index.txt'), 'utf8');
    const crl = fs.readFileSync(path.join(pki, 'crl.pem'), 'utf8');
    const r = await locked.api('POST', '/api/pki/revoke', { name: 'alice' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'GH_ERR_PKI_PASSPHRASE');
    assert.match(r.body.error.message, /encrypted.*nothing was revoked/);
    assert.match(r.body.error.hint, /EASYRSA_PASSIN=file:PATH/);
    assert.equal(fs.readFileSync(path.join(pki, 'index.txt'), 'utf8'), index, 'index.txt untouched');
    assert.equal(fs.readFileSync(path.join(pki, 'crl.pem'), 'utf8'), crl, 'crl.pem untouched');
    assert.ok(fs.existsSync(path.join(pki, 'issued', 'alice.crt')));
    assert.equal(status('alice'), 'valid');
  } finally {
    await locked.gh.stop();
  }

  const unlocked = await startAdminLab(config, { dir, env: { EASYRSA_PASSIN: `file:${passFile}` } });
  try {
    const r = await unlocked.api('POST', '/api/pki/revoke', { name: 'alice', reason: 'keyCompromise' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.crl.revoked, 1);
    assert.equal(status('alice'), 'revoked');
    assert.ok(
      !opensslVerify(pki, aliceCert, true).ok,
      'openssl refuses the revoked certificate with the new CRL',
    );
    assert.ok(opensslVerify(pki, path.join(pki, 'issued', 'bob.crt'), true).ok, 'and still accepts bob');
    await unlocked.gh.waitForLog((l) => l.msg === 'certificate revoked from the admin API');
    assertNoSecret(unlocked);
  } finally {
    await unlocked.gh.stop();
  }
});

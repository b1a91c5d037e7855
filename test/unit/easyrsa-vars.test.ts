// easy-rsa's settings without easy-rsa: the vars file's set_var lines read (never run), the shell
// quoting they use, what easy-rsa refuses in them, and the order command line > environment >
// vars > defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { applyVarsFile, resolveEasyRsaSettings, shellWords } from '../../src/pki/easyrsa-vars.js';
import { isGatehouseError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp.js';

test('set_var values: quotes, escapes and $NAME expansion as sh reads them; anything needing a shell is refused', () => {
  const vars = new Map([['HOME', '/home/x']]);
  const look = (n: string) => vars.get(n);
  assert.deepEqual(shellWords(`EASYRSA_REQ_ORG "Acme \\"Inc\\""`, look), ['EASYRSA_REQ_ORG', 'Acme "Inc"']);
  assert.deepEqual(shellWords(`EASYRSA_PKI "$HOME/pki" # a comment`, look), ['EASYRSA_PKI', '/home/x/pki']);
  assert.deepEqual(shellWords(`EASYRSA_REQ_OU 'a $b'`, look), ['EASYRSA_REQ_OU', 'a $b']);
  assert.deepEqual(shellWords('EASYRSA_DN\tcn_only', look), ['EASYRSA_DN', 'cn_only']);
  for (const bad of ['X "$(id)"', 'X `id`', 'X a; rm -rf /', 'X "unterminated', 'X ${HOME:-/}']) {
    assert.throws(() => shellWords(bad, look), Error, bad);
  }
});

test('a vars file fills only what is unset, and what easy-rsa refuses is refused with FILE:LINE', () => {
  const scope = new Map([['EASYRSA_CERT_EXPIRE', '200']]);
  applyVarsFile(
    '# c\nset_var EASYRSA_CERT_EXPIRE 100\nset_var EASYRSA_DN "org"\nif [ -z "$EASYRSA_CALLER" ]; then\n',
    'vars',
    scope,
    '/',
  );
  assert.equal(scope.get('EASYRSA_CERT_EXPIRE'), '200');
  assert.equal(scope.get('EASYRSA_DN'), 'org');
  try {
    applyVarsFile(
      'set_var EASYRSA_DN org\nset_var EASYRSA_PASSIN pass:x\nexport EASYRSA_X=1\n',
      'pki/vars',
      new Map(),
      '/',
    );
    assert.fail('accepted a passphrase in vars');
  } catch (err) {
    assert.ok(isGatehouseError(err) && err.code === 'GH_ERR_PKI_BAD_INPUT');
    assert.deepEqual(
      err.details.map((d) => d.split(':').slice(0, 2).join(':')),
      ['pki/vars:2', 'pki/vars:3'],
    );
  }
});

test('settings: command line > environment > PKI/vars > defaults', (t) => {
  const cwd = tempDir(t, 'gh-vars-');
  const pki = path.join(cwd, 'pki');
  fs.mkdirSync(pki);
  fs.writeFileSync(
    path.join(pki, 'vars'),
    'set_var EASYRSA_CERT_EXPIRE 100\nset_var EASYRSA_CRL_DAYS 7\nset_var EASYRSA_ALGO ec\n',
  );
  const env = { EASYRSA_PKI: pki, EASYRSA_CERT_EXPIRE: '200', EASYRSA_CURVE: 'secp521r1' };
  const s = resolveEasyRsaSettings({ cli: { EASYRSA_CA_EXPIRE: '5' }, env, cwd, readVars: true });
  assert.equal(s.pki, pki);
  assert.equal(s.caDays, 5);
  assert.equal(s.certDays, 200);
  assert.equal(s.crlDays, 7);
  assert.equal(s.keyType, 'ec-p521');
  assert.equal(s.varsFile, path.join(pki, 'vars'));
  const none = resolveEasyRsaSettings({ cli: {}, env: {}, cwd, readVars: false });
  assert.equal(none.pki, pki); // ./pki by default
  assert.equal(none.certDays, 825);
  assert.equal(none.keyType, 'ec-p256'); // Gatehouse's default when no algorithm is set anywhere
  assert.equal(none.batch, false);
  assert.equal(
    resolveEasyRsaSettings({ cli: {}, env: { EASYRSA_ALGO: 'rsa' }, cwd, readVars: false }).keyType,
    'rsa-2048',
  );
});

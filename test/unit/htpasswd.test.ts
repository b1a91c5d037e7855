import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { HtpasswdVerifier, parseBasic, parseHtpasswd, verifyHash } from '../../src/auth/htpasswd.js';

// Hashes as Apache's htpasswd 2.4 wrote them for the password "s3cret" (-B, -m, -s, -d, -p).
const FILE = [
  'bob:$2y$05$CL9ftlwpGrI2AT.s/V0hreLqmsqElbx9YImuMBiPbF3jOXS2UJvE2',
  'amy:$apr1$6r68eJ.S$PjO0FIcL05q6H7n237OMw/',
  'sid:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg=',
  'old:jNZ1UPV5qjjWo',
  'plain:s3cret',
  '# comment',
  'garbage line',
  'bob:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg=',
].join('\n');

const haveHtpasswd = (() => {
  try {
    execFileSync('htpasswd', ['-nbs', 'x', 'y'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('htpasswd: the fixed hashes verify with "s3cret"', async () => {
  const h = parseHtpasswd(FILE, 'users');
  for (const u of ['bob', 'amy', 'sid']) {
    assert.equal(await verifyHash(h.users.get(u)!, 's3cret'), true, u);
    assert.equal(await verifyHash(h.users.get(u)!, 'S3cret'), false, u);
  }
});

test('htpasswd: parse keeps bcrypt, APR1 and SHA1; warns on crypt, plain, garbage and repeats', () => {
  const h = parseHtpasswd(FILE, 'users');
  assert.deepEqual([...h.users.keys()], ['bob', 'amy', 'sid']);
  assert.equal(h.users.get('bob')!.scheme, 'bcrypt');
  assert.equal(h.users.get('amy')!.scheme, 'apr1');
  assert.equal(h.users.get('sid')!.scheme, 'sha1');
  const w = h.warnings.join('\n');
  assert.match(w, /users:4: .*"old".*htpasswd -B/);
  assert.match(w, /users:5: .*"plain"/);
  assert.match(w, /users:7: .*not "user:hash"/);
  assert.match(w, /users:8: .*"bob" repeats users:1/);
});

test(
  'htpasswd: hashes written by the real htpasswd verify, wrong passwords do not',
  { skip: !haveHtpasswd && 'htpasswd (apache2-utils) not installed' },
  async () => {
    for (const flag of ['-B', '-m', '-s']) {
      const line = execFileSync('htpasswd', ['-nb', flag, 'carol', 'pä ss:word']).toString().trim();
      const h = parseHtpasswd(line, 'gen');
      const entry = h.users.get('carol');
      assert.ok(entry, `${flag}: ${line}`);
      assert.equal(await verifyHash(entry, 'pä ss:word'), true, flag);
      assert.equal(await verifyHash(entry, 'pä ss:wordX'), false, flag);
    }
  },
);

test('htpasswd: the verifier checks users and remembers successes only', async () => {
  const line = haveHtpasswd
    ? execFileSync('htpasswd', ['-nbB', 'dan', 'pw']).toString().trim()
    : 'dan:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=';
  const v = new HtpasswdVerifier(parseHtpasswd(line, 'f'));
  assert.equal(await v.verify('dan', 'pw'), true);
  assert.equal(await v.verify('dan', 'pw'), true);
  assert.equal(await v.verify('dan', 'nope'), false);
  assert.equal(await v.verify('eve', 'pw'), false);
});

test('basic credentials parse, malformed ones do not', () => {
  const b = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  assert.deepEqual(parseBasic(b('bob:pa:ss')), { user: 'bob', password: 'pa:ss' });
  assert.deepEqual(parseBasic(b('bob:')), { user: 'bob', password: '' });
  assert.equal(parseBasic(b(':pw')), undefined);
  assert.equal(parseBasic(b('nocolon')), undefined);
  assert.equal(parseBasic('Bearer abc'), undefined);
  assert.equal(parseBasic(undefined), undefined);
  assert.equal(parseBasic(`Basic ${'A'.repeat(5000)}`), undefined);
});

test('fuzz: htpasswd parsing never throws', () => {
  const alphabet = 'ab:$2y1{SHA}apr/.=\n# \r';
  for (let i = 0; i < 2000; i++) {
    const s = Array.from(
      { length: Math.floor(Math.random() * 80) },
      () => alphabet[Math.floor(Math.random() * alphabet.length)],
    ).join('');
    const h = parseHtpasswd(s, 'fz');
    assert.ok(h.users instanceof Map);
    parseBasic(`Basic ${s}`);
  }
});

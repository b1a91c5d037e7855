// PKI library: the pure index.txt parser (fixture lines, broken ones included), time and serial
// formats, groups in certificates, and the easy-rsa layout the verbs write — without easyrsa/openssl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isGatehouseError } from '../../src/errors.js';
import {
  buildCa,
  buildFull,
  genCrl,
  groupsFromCertificate,
  initPki,
  listCertificates,
  loadCaCertificate,
  loadCredentials,
  loadCrlPem,
  pkiLayout,
  resolvePassSpec,
  revoke,
  showCertificate,
} from '../../src/pki/index.js';
import { parseSan, parseSanList } from '../../src/pki/certs.js';
import { crlNumberOf, parseCrl } from '../../src/pki/crl.js';
import {
  formatIndex,
  formatOpensslTime,
  normaliseSerial,
  parseIndex,
  parseIndexLine,
  parseOpensslTime,
  parseRevocation,
} from '../../src/pki/ca-index-format.js';
import { createFileAtomic, writeFileAtomic } from '../../src/pki/store.js';
import { x509 } from '../../src/pki/x509.js';
import { tempDir } from '../helpers/temp.js';

const FIXTURE = new URL('../fixtures/pki/index-easyrsa.txt', import.meta.url);

async function rejectsWithCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: unknown) => {
      assert.ok(isGatehouseError(err), `expected a GatehouseError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
}

test('index.txt: easy-rsa lines parse and format back byte for byte', () => {
  const text = fs.readFileSync(FIXTURE, 'utf8');
  const parsed = parseIndex(text);
  assert.deepEqual(parsed.problems, []);
  assert.equal(parsed.entries.length, 5);
  const [srv, cli, bob, old, far] = parsed.entries;
  assert.equal(srv?.status, 'V');
  assert.equal(srv?.serial, 'C0DA852D194094854E2BFCB9B42C6055');
  assert.equal(srv?.filename, 'unknown');
  assert.equal(srv?.subject, '/CN=srv');
  assert.equal(cli?.status, 'R');
  assert.deepEqual(parseRevocation(cli?.revocation ?? ''), {
    date: new Date('2026-11-25T10:32:38Z'),
    reason: undefined,
    invalidity: undefined,
  });
  assert.equal((parseRevocation(bob?.revocation ?? '') as { reason: string }).reason, 'keyCompromise');
  const oldRev = parseRevocation(old?.revocation ?? '') as { reason: string; invalidity: Date };
  assert.equal(oldRev.reason, 'keyCompromise');
  assert.deepEqual(oldRev.invalidity, new Date('2026-11-20T00:00:00Z'));
  assert.deepEqual(parseOpensslTime(far?.expiry ?? ''), new Date('2051-01-01T00:00:00Z'));
  assert.equal(formatIndex(parsed.entries), text);
});

test('index.txt: broken lines are reported with their line number and reason', () => {
  const cases: [string, RegExp][] = [
    ['V\t290227103238Z\t\tC0DA\tunknown', /expected 6 TAB-separated fields, found 5/],
    ['V 290227103238Z  C0DA unknown /CN=x', /found 1/],
    ['X\t290227103238Z\t\tC0DA\tunknown\t/CN=x', /unknown status "X"/],
    ['V\t2902271032Z\t\tC0DA\tunknown\t/CN=x', /bad expiry time/],
    ['V\t291327103238Z\t\tC0DA\tunknown\t/CN=x', /bad expiry time/],
    ['V\t290227103238Z\t261125103238Z\tC0DA\tunknown\t/CN=x', /status V with a revocation field/],
    ['R\t290227103238Z\t\tC0DA\tunknown\t/CN=x', /bad revocation time ""/],
    ['R\t290227103238Z\t261125103238Z,lostIt\tC0DA\tunknown\t/CN=x', /unknown revocation reason "lostIt"/],
    ['R\t290227103238Z\t261125103238Z,keyTime\tC0DA\tunknown\t/CN=x', /bad compromise time/],
    ['V\t290227103238Z\t\tC0DG\tunknown\t/CN=x', /bad serial "C0DG"/],
    ['V\t290227103238Z\t\tC0DA\t\t/CN=x', /empty filename/],
    ['V\t290227103238Z\t\tC0DA\tunknown\tCN=x', /bad subject/],
  ];
  for (const [line, reason] of cases) {
    const r = parseIndexLine(line);
    assert.ok('error' in r, `accepted: ${JSON.stringify(line)}`);
    assert.match(r.error, reason, JSON.stringify(line));
  }
  const good = fs.readFileSync(FIXTURE, 'utf8').split('\n')[0] ?? '';
  const parsed = parseIndex(`${good}\nbroken line\n${good}\r\n`);
  assert.equal(parsed.entries.length, 2);
  assert.deepEqual(
    parsed.problems.map((p) => [p.line, p.text]),
    [[2, 'broken line']],
  );
  const long = parseIndexLine('V\t'.padEnd(70_000, 'A'));
  assert.ok('error' in long && /longer than/.test(long.error));
});

test('OpenSSL times and serials are written as openssl ca writes them', () => {
  assert.equal(formatOpensslTime(new Date('2029-02-27T10:32:38.900Z')), '290227103238Z');
  assert.equal(formatOpensslTime(new Date('2049-12-31T23:59:59Z')), '491231235959Z');
  assert.equal(formatOpensslTime(new Date('2050-01-01T00:00:00Z')), '20500101000000Z');
  assert.deepEqual(parseOpensslTime('500101000000Z'), new Date('1950-01-01T00:00:00Z'));
  assert.equal(parseOpensslTime('20500101000000'), undefined);
  assert.equal(normaliseSerial('00c0da'), 'C0DA');
  assert.equal(normaliseSerial('1'), '01');
  assert.equal(normaliseSerial('00'), '00');
});

test('--san takes OpenSSL DNS:, IP:, email:, URI: entries, comma-separated as easy-rsa passes them', async () => {
  assert.deepEqual(parseSan('DNS:GW.example.com'), { type: 'dns', value: 'GW.example.com' });
  assert.deepEqual(parseSan('IP:2001:db8::1'), { type: 'ip', value: '2001:db8::1' });
  assert.deepEqual(parseSan('email:ops@example.com'), { type: 'email', value: 'ops@example.com' });
  assert.deepEqual(parseSan('URI:urn:x'), { type: 'url', value: 'urn:x' });
  assert.deepEqual(parseSanList('DNS:a,IP:10.0.0.1'), [
    { type: 'dns', value: 'a' },
    { type: 'ip', value: '10.0.0.1' },
  ]);
  for (const bad of ['gw.example.com', 'DNS:', 'IP:10.0.0.300', 'URI:nocolon', 'DNS:a b', 'RID:1.2.3']) {
    await rejectsWithCode(() => parseSan(bad), 'GH_ERR_PKI_BAD_INPUT');
  }
});

test('passphrase sources: pass:, env:, file: — and nothing else', async (t) => {
  const dir = tempDir(t, 'gh-pki-unit-');
  fs.writeFileSync(path.join(dir, 'pw'), 'from-file\nsecond line\n');
  process.env.GH_TEST_PASS = 'from-env';
  t.after(() => delete process.env.GH_TEST_PASS);
  assert.equal(resolvePassSpec('pass:literal', '--passin'), 'literal');
  assert.equal(resolvePassSpec('env:GH_TEST_PASS', '--passin'), 'from-env');
  assert.equal(resolvePassSpec(`file:${path.join(dir, 'pw')}`, '--passin'), 'from-file');
  for (const bad of ['literal', 'stdin', 'env:GH_TEST_UNSET_VAR', 'pass:abc', `file:${dir}/missing`]) {
    await rejectsWithCode(() => resolvePassSpec(bad, '--passin'), 'GH_ERR_PKI_PASSPHRASE');
  }
});

test('verbs: the easy-rsa layout, modes, index lines, serial and statuses', async (t) => {
  const dir = path.join(tempDir(t, 'gh-pki-unit-'), 'pki');
  const l = initPki(dir);
  assert.equal(fs.statSync(l.privateDir).mode & 0o777, 0o700);
  assert.ok(fs.existsSync(path.join(dir, 'openssl-easyrsa.cnf')));
  await buildCa(dir, { commonName: 'Test CA' });
  const server = await buildFull(dir, 'server', 'gw.example.com', {});
  const alice = await buildFull(dir, 'client', 'alice', { groups: ['developers', 'oncall', 'developers'] });
  const bob = await buildFull(dir, 'client', 'bob', { keyType: 'ec-p384', days: 30 });

  for (const f of [l.caKey, l.key('alice'), l.key('bob'), l.key('gw.example.com')]) {
    assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    assert.match(fs.readFileSync(f, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  }
  for (const f of [
    l.caCrt,
    l.issued('alice'),
    l.req('alice'),
    l.certBySerial(alice.serial),
    l.indexAttr,
    l.serial,
  ]) {
    assert.ok(fs.existsSync(f), f);
  }
  assert.match(fs.readFileSync(l.req('alice'), 'utf8'), /^-----BEGIN CERTIFICATE REQUEST-----/);
  assert.equal(fs.readFileSync(l.indexAttr, 'utf8'), 'unique_subject = no\n');
  assert.equal(
    fs.readFileSync(l.serial, 'utf8'),
    `${(BigInt(`0x${bob.serial}`) + 1n).toString(16).toUpperCase().padStart(32, '0')}\n`,
  );
  const lines = fs.readFileSync(l.index, 'utf8').split('\n');
  assert.match(lines[1] ?? '', new RegExp(`^V\\t\\d{12}Z\\t\\t${alice.serial}\\tunknown\\t/CN=alice$`));
  assert.match(alice.serial, /^[0-7][0-9A-F]{31}$/);

  // Extensions of easy-rsa's profiles.
  const ca = loadCaCertificate(dir);
  assert.ok(ca.ca);
  assert.equal(ca.subject, 'CN=Test CA');
  assert.ok(server.certificate.checkIssued(ca) && server.certificate.verify(ca.publicKey));
  assert.deepEqual(server.certificate.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(server.certificate.subjectAltName, 'DNS:gw.example.com');
  assert.deepEqual(alice.certificate.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(groupsFromCertificate(alice.certificate), ['developers', 'oncall']);
  assert.deepEqual(groupsFromCertificate(server.certificate), []);
  const days =
    (new Date(alice.certificate.validTo).getTime() - new Date(alice.certificate.validFrom).getTime()) /
    86_400_000;
  assert.equal(days, 825);
  assert.equal(showCertificate(dir, 'bob').keyDescription, 'EC secp384r1');
  assert.equal(showCertificate(dir, 'ca').profile, 'ca');

  // The daemon's view: credentials by name.
  const creds = loadCredentials(dir, 'gw.example.com');
  assert.ok(new X509Certificate(creds.cert).checkPrivateKey(createPrivateKey(creds.key)));

  // Exports and inline files as easy-rsa 3.2 (inline/) and 3.1 (NAME.creds) leave them.
  const exported = (name: string) => [
    path.join(dir, 'private', `${name}.p12`),
    path.join(dir, 'issued', `${name}.p7b`),
    path.join(dir, 'inline', `${name}.inline`),
    path.join(dir, 'inline', 'private', `${name}.inline`),
    path.join(dir, `${name}.creds`),
  ];
  fs.mkdirSync(path.join(dir, 'inline', 'private'), { recursive: true });
  for (const f of [...exported('bob'), ...exported('alice')]) fs.writeFileSync(f, 'bundle');

  // Revoke moves the files where easy-rsa keeps them and deletes what was made from them; the
  // name can be issued again.
  const r = await revoke(dir, 'bob', { reason: 'superseded' });
  assert.equal(r.serial, bob.serial);
  assert.deepEqual([...r.removed].sort(), exported('bob').sort());
  for (const f of exported('bob')) assert.ok(!fs.existsSync(f), `${f} was removed`);
  for (const f of exported('alice')) assert.ok(fs.existsSync(f), `${f} of a valid name stays`);
  assert.ok(!fs.existsSync(l.issued('bob')) && !fs.existsSync(l.key('bob')) && !fs.existsSync(l.req('bob')));
  assert.ok(fs.existsSync(l.revokedCert(bob.serial)));
  assert.ok(fs.existsSync(l.revokedKey(bob.serial)));
  assert.ok(fs.existsSync(l.revokedReq(bob.serial)));
  assert.ok(!fs.existsSync(l.certBySerial(bob.serial)));
  assert.match(
    fs.readFileSync(l.index, 'utf8'),
    new RegExp(`^R\\t\\d{12}Z\\t\\d{12}Z,superseded\\t${bob.serial}\\tunknown\\t/CN=bob$`, 'm'),
  );
  assert.equal(showCertificate(dir, 'bob').record?.status, 'revoked');

  const crl1 = await genCrl(dir);
  assert.match(crl1.pem, /^-----BEGIN X509 CRL-----\n[A-Za-z0-9+/=\n]+-----END X509 CRL-----\n$/);
  assert.equal(loadCrlPem(dir), crl1.pem);
  const parsed = parseCrl(crl1.pem);
  assert.deepEqual(
    parsed.entries.map((e) => e.serialNumber.toUpperCase()),
    [bob.serial],
  );
  assert.equal(parsed.entries[0]?.reason, 4);
  assert.ok(await parsed.verify({ publicKey: new x509.X509Certificate(ca.raw) }));
  const crl2 = await genCrl(dir, { days: 7 });
  assert.ok((crlNumberOf(parseCrl(crl2.pem)) ?? 0n) > (crlNumberOf(parsed) ?? 0n));

  const again = await buildFull(dir, 'client', 'bob', {});
  assert.notEqual(again.serial, bob.serial);
  const statuses = listCertificates(dir).records.map((rec) => `${rec.name}:${rec.status}`);
  assert.deepEqual(statuses, ['gw.example.com:valid', 'alice:valid', 'bob:revoked', 'bob:valid']);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp-') || f === '.gatehouse.lock'),
    [],
    'no temp or lock files left behind',
  );
});

test('clear errors: uninitialised PKI, missing CA, existing name, not issued, bad input', async (t) => {
  const root = tempDir(t, 'gh-pki-unit-');
  const dir = path.join(root, 'pki');
  await rejectsWithCode(buildCa(dir), 'GH_ERR_PKI_NOT_INITIALISED');
  await rejectsWithCode(buildFull(dir, 'client', 'alice'), 'GH_ERR_PKI_NOT_INITIALISED');
  initPki(dir);
  await rejectsWithCode(buildFull(dir, 'client', 'alice'), 'GH_ERR_PKI_NO_CA');
  await rejectsWithCode(genCrl(dir), 'GH_ERR_PKI_NO_CA');
  await rejectsWithCode(() => initPki(dir), 'GH_ERR_PKI_EXISTS');
  await buildCa(dir);
  await rejectsWithCode(buildCa(dir), 'GH_ERR_PKI_EXISTS');
  await buildFull(dir, 'client', 'alice');
  const indexBefore = fs.readFileSync(pkiLayout(dir).index, 'utf8');
  await rejectsWithCode(buildFull(dir, 'client', 'alice'), 'GH_ERR_PKI_EXISTS');
  await rejectsWithCode(buildFull(dir, 'server', 'alice'), 'GH_ERR_PKI_EXISTS');
  assert.equal(fs.readFileSync(pkiLayout(dir).index, 'utf8'), indexBefore, 'a refused build changes nothing');
  await rejectsWithCode(revoke(dir, 'nobody'), 'GH_ERR_PKI_NOT_ISSUED');
  await revoke(dir, 'alice');
  await rejectsWithCode(revoke(dir, 'alice'), 'GH_ERR_PKI_NOT_ISSUED');
  await rejectsWithCode(revoke(dir, '../ca'), 'GH_ERR_PKI_BAD_INPUT');
  await rejectsWithCode(buildFull(dir, 'client', '../evil'), 'GH_ERR_PKI_BAD_INPUT');
  await rejectsWithCode(buildFull(dir, 'client', 'ca'), 'GH_ERR_PKI_BAD_INPUT');
  await rejectsWithCode(buildFull(dir, 'client', 'carol', { groups: ['has space'] }), 'GH_ERR_PKI_BAD_INPUT');
  await rejectsWithCode(buildFull(dir, 'server', 'srv', { groups: ['g'] }), 'GH_ERR_PKI_BAD_INPUT');
  await rejectsWithCode(buildFull(dir, 'client', 'carol', { days: 0 }), 'GH_ERR_PKI_BAD_INPUT');
  assert.ok(!fs.existsSync(pkiLayout(dir).key('carol')));

  // A malformed index is refused for writing (as openssl does) and reported for reading.
  fs.appendFileSync(pkiLayout(dir).index, 'garbage\n');
  await rejectsWithCode(buildFull(dir, 'client', 'dave'), 'GH_ERR_PKI_CORRUPT');
  assert.deepEqual(listCertificates(dir).warnings, [
    `${pkiLayout(dir).index}:2: expected 6 TAB-separated fields, found 1`,
  ]);
  fs.writeFileSync(
    pkiLayout(dir).index,
    fs.readFileSync(pkiLayout(dir).index, 'utf8').replace('garbage\n', ''),
  );

  // A lock held by a live process blocks; one left by a dead process is taken over.
  const lock = pkiLayout(dir).lock;
  fs.writeFileSync(lock, `${process.pid}\n`);
  await rejectsWithCode(genCrl(dir), 'GH_ERR_PKI_LOCKED');
  fs.writeFileSync(lock, '999999999\n');
  await genCrl(dir);
  assert.ok(!fs.existsSync(lock));
});

test('encrypted keys: --passout encrypts, the CA key needs --passin, a wrong one is refused', async (t) => {
  const dir = path.join(tempDir(t, 'gh-pki-unit-'), 'pki');
  initPki(dir);
  await buildCa(dir, { passout: 'ca-secret' });
  assert.match(fs.readFileSync(pkiLayout(dir).caKey, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  await rejectsWithCode(buildFull(dir, 'client', 'alice'), 'GH_ERR_PKI_PASSPHRASE');
  await rejectsWithCode(buildFull(dir, 'client', 'alice', { passin: 'wrong-one' }), 'GH_ERR_PKI_PASSPHRASE');
  await rejectsWithCode(genCrl(dir), 'GH_ERR_PKI_PASSPHRASE');
  await buildFull(dir, 'client', 'alice', { passin: 'ca-secret', passout: 'alice-secret' });
  assert.match(
    fs.readFileSync(pkiLayout(dir).key('alice'), 'utf8'),
    /^-----BEGIN ENCRYPTED PRIVATE KEY-----/,
  );
  await rejectsWithCode(() => loadCredentials(dir, 'alice'), 'GH_ERR_PKI_PASSPHRASE');
  assert.match(loadCredentials(dir, 'alice', 'alice-secret').key, /^-----BEGIN PRIVATE KEY-----/);
  await revoke(dir, 'alice'); // revoking only edits the index: no CA key needed, as with the CRL later
  await genCrl(dir, { passin: 'ca-secret' });
});

test('groups: only well-formed urn:gatehouse:group: URIs count', async () => {
  const keys = (await x509.cryptoProvider
    .get()
    .subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as {
    privateKey: never;
    publicKey: never;
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=x',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: 'urn:gatehouse:group:ops' },
        { type: 'url', value: 'urn:gatehouse:group:has space' },
        { type: 'url', value: 'urn:gatehouse:group:' },
        { type: 'url', value: 'urn:other:group:admins' },
        { type: 'dns', value: 'urn:gatehouse:group:dns' },
        { type: 'url', value: 'urn:gatehouse:group:ops' },
        { type: 'url', value: 'urn:gatehouse:group:dev.team-1' },
      ]),
    ],
  });
  assert.deepEqual(groupsFromCertificate(new X509Certificate(Buffer.from(cert.rawData))), [
    'ops',
    'dev.team-1',
  ]);
});

test('atomic writes: a file that must be new is never clobbered, and no temp file is left', (t) => {
  const dir = tempDir(t, 'gh-pki-unit-');
  const p = path.join(dir, 'f');
  createFileAtomic(p, 'one', 0o600, 'f');
  assert.throws(
    () => createFileAtomic(p, 'two', 0o600, 'f'),
    (e: unknown) => isGatehouseError(e) && e.code === 'GH_ERR_PKI_EXISTS',
  );
  assert.equal(fs.readFileSync(p, 'utf8'), 'one');
  writeFileAtomic(p, 'three', 0o644);
  assert.equal(fs.readFileSync(p, 'utf8'), 'three');
  assert.equal(fs.statSync(p).mode & 0o777, 0o644);
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

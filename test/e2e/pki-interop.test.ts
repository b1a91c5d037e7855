// `gatehouse pki` against the real tools: Debian's easy-rsa 3.1 and openssl extend and read a PKI
// Gatehouse made, Gatehouse extends one easy-rsa made, `openssl verify` and Node's TLS `crl` option
// accept the good certificates and refuse the revoked ones. The CLI runs as a user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { opensslVerify as verify } from '../helpers/access-pki.js';
import { CLI } from '../helpers/gatehouse.js';
import { tempDir } from '../helpers/temp.js';

const EASYRSA = '/usr/share/easy-rsa/easyrsa';
const noEasyRsa = !fs.existsSync(EASYRSA) && 'easy-rsa is not installed (apt-get install easy-rsa)';
const noOpenssl = spawnSync('openssl', ['version']).status !== 0 && 'openssl is not installed';

/** Everything the CLI printed in this file, to check that no private key ever reached a terminal. */
const printed: string[] = [];

function gh(pki: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'pki', '--pki', pki, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  printed.push(r.stdout, r.stderr);
  return r;
}

function ghOk(pki: string, ...args: string[]): string {
  const r = gh(pki, ...args);
  assert.equal(r.status, 0, `gatehouse pki ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** easyrsa in batch mode, run from the PKI's parent directory (easy-rsa refuses a vars file in both). */
function easyrsa(pki: string, ...args: string[]): string {
  const r = spawnSync(EASYRSA, args, {
    cwd: path.dirname(pki),
    encoding: 'utf8',
    env: { ...process.env, EASYRSA_BATCH: '1', EASYRSA_PKI: pki },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `easyrsa ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

function assertGood(pki: string, ...names: string[]): void {
  for (const n of names) {
    const v = verify(pki, path.join(pki, 'issued', `${n}.crt`), true);
    assert.ok(v.ok, `openssl verify -crl_check refused ${n}: ${v.out}`);
  }
}

function assertRevoked(pki: string, serial: string): void {
  const file = path.join(pki, 'revoked', 'certs_by_serial', `${serial}.crt`);
  assert.ok(verify(pki, file, false).ok, 'the revoked certificate still chains to the CA');
  const v = verify(pki, file, true);
  assert.ok(!v.ok, `openssl verify -crl_check accepted revoked ${serial}`);
  assert.match(v.out, /certificate revoked/);
}

function serialOf(file: string): string {
  return (
    execFileSync('openssl', ['x509', '-in', file, '-noout', '-serial'], { encoding: 'utf8' })
      .trim()
      .split('=')[1] ?? ''
  );
}

const INDEX_LINE = /^(V\t\d{12}Z\t\t|R\t\d{12}Z\t\d{12}Z(,[A-Za-z]+)?\t)[0-9A-F]+\tunknown\t\/CN=[^\t]+$/;

test(
  'a PKI made by easy-rsa is extended by gatehouse (build-client-full, revoke, gen-crl)',
  { skip: noEasyRsa || noOpenssl },
  (t) => {
    const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
    easyrsa(pki, 'init-pki');
    easyrsa(pki, 'build-ca', 'nopass');
    easyrsa(pki, 'build-server-full', 'vpn', 'nopass');
    easyrsa(pki, 'build-client-full', 'old', 'nopass');
    const oldSerial = serialOf(path.join(pki, 'issued', 'old.crt'));

    ghOk(pki, 'build-client-full', 'alice', 'nopass', '--group', 'developers');
    ghOk(pki, 'build-client-full', 'mallory', 'nopass');
    const mallorySerial = serialOf(path.join(pki, 'issued', 'mallory.crt'));
    ghOk(pki, 'revoke', 'old');
    ghOk(pki, 'revoke', 'mallory', '--reason', 'keyCompromise');
    ghOk(pki, 'gen-crl');

    assert.match(fs.readFileSync(path.join(pki, 'crl.pem'), 'utf8'), /^-----BEGIN X509 CRL-----/);
    for (const line of fs.readFileSync(path.join(pki, 'index.txt'), 'utf8').trimEnd().split('\n')) {
      assert.match(line, INDEX_LINE);
    }
    assert.match(
      fs.readFileSync(path.join(pki, 'index.txt'), 'utf8'),
      new RegExp(`,keyCompromise\\t${mallorySerial}\\t`),
    );
    assertGood(pki, 'vpn', 'alice');
    assertRevoked(pki, oldSerial);
    assertRevoked(pki, mallorySerial);
    assert.ok(fs.existsSync(path.join(pki, 'revoked', 'private_by_serial', `${mallorySerial}.key`)));
    assert.ok(fs.existsSync(path.join(pki, 'revoked', 'reqs_by_serial', `${oldSerial}.req`)));

    // easy-rsa still works on it afterwards, and sees what gatehouse did.
    assert.match(easyrsa(pki, 'show-cert', 'alice'), /urn:gatehouse:group:developers/);
    easyrsa(pki, 'build-client-full', 'after', 'nopass');
    easyrsa(pki, 'revoke', 'alice');
    easyrsa(pki, 'gen-crl');
    assertGood(pki, 'vpn', 'after');
    assertRevoked(pki, mallorySerial);

    const list = JSON.parse(ghOk(pki, 'list', '--json')) as { name: string; status: string }[];
    assert.deepEqual(
      list.map((r) => `${r.name}:${r.status}`),
      ['vpn:valid', 'old:revoked', 'alice:revoked', 'mallory:revoked', 'after:valid'],
    );
  },
);

test(
  'a PKI made by gatehouse is used by easy-rsa (show-cert, build-client-full, revoke, gen-crl)',
  { skip: noEasyRsa || noOpenssl },
  (t) => {
    const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
    ghOk(pki, 'init-pki');
    ghOk(pki, 'build-ca', 'nopass');
    ghOk(pki, 'build-server-full', 'gw', 'nopass', '--san', 'DNS:gw.example.com', '--san', 'IP:127.0.0.1');
    ghOk(pki, 'build-client-full', 'c1', '--group', 'ops');
    ghOk(pki, 'build-client-full', 'c2', '--key-type', 'rsa-2048');
    assert.equal(fs.statSync(path.join(pki, 'private')).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(pki, 'private', 'c1.key')).mode & 0o777, 0o600);

    const shown = easyrsa(pki, 'show-cert', 'c1');
    assert.match(shown, /commonName\s*=\s*c1/);
    assert.match(shown, /TLS Web Client Authentication/);
    easyrsa(pki, 'build-client-full', 'e1', 'nopass');
    easyrsa(pki, 'build-server-full', 'es', 'nopass');
    const c1Serial = serialOf(path.join(pki, 'issued', 'c1.crt'));
    easyrsa(pki, 'revoke', 'c1');
    easyrsa(pki, 'gen-crl');
    assertGood(pki, 'gw', 'c2', 'e1', 'es');
    assertRevoked(pki, c1Serial);

    // And back: gatehouse revokes what easy-rsa issued and regenerates the CRL.
    const e1Serial = serialOf(path.join(pki, 'issued', 'e1.crt'));
    ghOk(pki, 'revoke', 'e1', 'superseded');
    ghOk(pki, 'gen-crl');
    assertGood(pki, 'gw', 'c2', 'es');
    assertRevoked(pki, c1Serial);
    assertRevoked(pki, e1Serial);
    const show = JSON.parse(ghOk(pki, 'show', 'c1', '--json')) as { status: string; groups: string[] };
    assert.equal(show.status, 'revoked');
    assert.deepEqual(show.groups, ['ops']);
  },
);

test(
  "revoking what easy-rsa exported (PKCS#12, inline credentials) deletes the revoked name's bundles only",
  { skip: noEasyRsa || noOpenssl },
  (t) => {
    const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
    easyrsa(pki, 'init-pki');
    easyrsa(pki, 'build-ca', 'nopass');
    const bundles = (name: string) => [
      path.join(pki, `${name}.creds`),
      path.join(pki, 'private', `${name}.p12`),
    ];
    for (const name of ['leaver', 'stayer']) {
      easyrsa(pki, 'build-client-full', name, 'nopass', 'inline');
      easyrsa(pki, 'export-p12', name, 'nopass');
      for (const f of bundles(name)) assert.ok(fs.existsSync(f), `easy-rsa wrote ${f}`);
    }
    const serial = serialOf(path.join(pki, 'issued', 'leaver.crt'));
    const said = ghOk(pki, 'revoke', 'leaver');
    for (const f of bundles('leaver')) {
      assert.ok(!fs.existsSync(f), `${f} is gone`);
      assert.ok(said.includes(`removed ${f}`), `the CLI names ${f}:\n${said}`);
    }
    for (const f of bundles('stayer')) assert.ok(fs.existsSync(f), `${f} stays`);
    assert.ok(fs.existsSync(path.join(pki, 'revoked', 'private_by_serial', `${serial}.key`)));
    // The name can be issued again, by either tool, with a fresh bundle.
    easyrsa(pki, 'build-client-full', 'leaver', 'nopass', 'inline');
    ghOk(pki, 'gen-crl');
    assertRevoked(pki, serial);
    assertGood(pki, 'leaver', 'stayer');
  },
);

test(
  'encrypted CA keys: gatehouse --passout, easy-rsa --passin and back',
  { skip: noEasyRsa || noOpenssl },
  (t) => {
    const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
    ghOk(pki, 'init-pki');
    ghOk(pki, '--passout', 'pass:ca-secret', 'build-ca');
    const noPass = gh(pki, 'build-client-full', 'x');
    assert.equal(noPass.status, 1);
    assert.match(noPass.stderr, /GH_ERR_PKI_PASSPHRASE.*encrypted/);
    assert.match(noPass.stderr, /next: .*--passin/);
    easyrsa(pki, '--passin=pass:ca-secret', 'build-client-full', 'byeasyrsa', 'nopass');
    ghOk(pki, '--passin', 'pass:ca-secret', 'build-client-full', 'bygatehouse', 'nopass');
    ghOk(pki, '--passin', 'pass:ca-secret', '--passout', 'pass:key-secret', 'build-client-full', 'locked');
    const key = fs.readFileSync(path.join(pki, 'private', 'locked.key'), 'utf8');
    assert.match(key, /BEGIN ENCRYPTED PRIVATE KEY/);
    execFileSync('openssl', [
      'pkey',
      '-in',
      path.join(pki, 'private', 'locked.key'),
      '-passin',
      'pass:key-secret',
      '-noout',
    ]);
    ghOk(pki, 'revoke', 'byeasyrsa');
    const r = spawnSync(process.execPath, [CLI, 'pki', '--pki', pki, 'gen-crl'], {
      encoding: 'utf8',
      env: { ...process.env, EASYRSA_PASSIN: 'pass:ca-secret' },
    });
    assert.equal(r.status, 0, r.stderr);
    assertGood(pki, 'bygatehouse', 'locked');
  },
);

test('CLI errors say what was wrong and what to do', (t) => {
  const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
  const uninit = gh(pki, 'build-client-full', 'alice');
  assert.equal(uninit.status, 1);
  assert.match(
    uninit.stderr,
    /error GH_ERR_PKI_NOT_INITIALISED: no PKI at .*pki\n {2}next: run `gatehouse pki --pki DIR init-pki`/,
  );
  ghOk(pki, 'init-pki');
  assert.match(gh(pki, 'gen-crl').stderr, /GH_ERR_PKI_NO_CA: .*ca\.crt is missing/);
  ghOk(pki, 'build-ca', 'nopass');
  ghOk(pki, 'build-client-full', 'alice', 'nopass');
  assert.match(gh(pki, 'build-client-full', 'alice', 'nopass').stderr, /GH_ERR_PKI_EXISTS: .*alice/);
  assert.match(gh(pki, 'revoke', 'bob').stderr, /GH_ERR_PKI_NOT_ISSUED: no issued certificate named bob/);
  // easy-rsa warns about a word it does not know after the name and goes on; so does gatehouse.
  const please = gh(pki, 'build-client-full', 'carol', 'please');
  assert.equal(please.status, 0, please.stderr);
  assert.match(please.stderr, /ignoring unknown command option "please"/);
  assert.match(gh(pki, 'build-client-full', 'dave', 'nopass', '--passphrase').stderr, /contradict/);
  assert.notEqual(gh(pki, 'revoke', 'alice', '--reason', 'boredom').status, 0);
  for (const sub of [
    'init-pki',
    'build-ca',
    'build-server-full',
    'build-client-full',
    'revoke',
    'gen-crl',
    'list',
    'show',
  ]) {
    const help = spawnSync(process.execPath, [CLI, 'pki', sub, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, sub);
    assert.match(help.stdout, new RegExp(`Usage: gatehouse pki ${sub}`));
  }
  const rsa = gh(pki, 'build-client-full', 'big', 'nopass', '--key-type', 'rsa-4096');
  assert.equal(rsa.status, 0, rsa.stderr);
  assert.match(rsa.stderr, /generating RSA-4096 key/, 'slow key generation reports progress on stderr');
});

test(
  "Node's TLS `crl` option accepts the good client and refuses the revoked one",
  { skip: noOpenssl },
  async (t) => {
    const pki = path.join(tempDir(t, 'gh-pki-e2e-'), 'pki');
    ghOk(pki, 'init-pki');
    ghOk(pki, 'build-ca', 'nopass');
    ghOk(pki, 'build-server-full', 'localhost', 'nopass', '--san', 'DNS:localhost', '--san', 'IP:127.0.0.1');
    ghOk(pki, 'build-client-full', 'good', 'nopass', '--group', 'developers');
    ghOk(pki, 'build-client-full', 'bad', 'nopass', '--key-type', 'ec-p384');
    const badSerial = serialOf(path.join(pki, 'issued', 'bad.crt'));
    ghOk(pki, 'revoke', 'bad');
    ghOk(pki, 'gen-crl');
    const read = (...p: string[]) => fs.readFileSync(path.join(pki, ...p));
    const ca = read('ca.crt');

    const accepted: string[] = [];
    const listen = async (withCrl: boolean) => {
      const server = tls.createServer(
        {
          cert: read('issued', 'localhost.crt'),
          key: read('private', 'localhost.key'),
          ca,
          ...(withCrl ? { crl: read('crl.pem') } : {}),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (socket) => {
          const cn = String(socket.getPeerCertificate().subject?.CN ?? '?');
          accepted.push(cn);
          socket.end(`hello ${cn}\n`);
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      return (server.address() as { port: number }).port;
    };
    // With TLS 1.3 the client may finish its handshake before the server checks its certificate, so a
    // refusal shows as an error or as a closed connection without the greeting.
    const connect = (port: number, cert: Buffer, key: Buffer) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca, cert, key, servername: 'localhost' });
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('end', () => resolve(data));
        s.on('error', (err) => resolve(`error: ${err.message}`));
      });
    const good = [read('issued', 'good.crt'), read('private', 'good.key')] as const;
    const bad = [
      read('revoked', 'certs_by_serial', `${badSerial}.crt`),
      read('revoked', 'private_by_serial', `${badSerial}.key`),
    ] as const;

    const withoutCrl = await listen(false); // control: the revoked certificate is otherwise fine
    assert.equal(await connect(withoutCrl, ...bad), 'hello bad\n');
    const withCrl = await listen(true);
    assert.equal(await connect(withCrl, ...good), 'hello good\n');
    assert.doesNotMatch(await connect(withCrl, ...bad), /hello/);
    assert.deepEqual(accepted, ['bad', 'good'], 'the server with the CRL never accepted the revoked client');
  },
);

test('nothing the CLI printed contains a private key', () => {
  assert.ok(printed.length > 0);
  for (const text of printed) assert.doesNotMatch(text, /PRIVATE KEY/);
});

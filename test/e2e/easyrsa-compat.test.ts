// easy-rsa scripts run unchanged against `gatehouse pki`: the same command lines (global options
// before the verb, EASYRSA_* environment, a vars file) go through Debian's easyrsa and through
// gatehouse on twin temporary directories, and the results are compared: exit codes, files,
// index.txt lines, and the certificates' subject, SANs, key usage, validity and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/gatehouse.js';
import { tempDir } from '../helpers/temp.js';

const EASYRSA = '/usr/share/easy-rsa/easyrsa';
const noEasyRsa = !fs.existsSync(EASYRSA) && 'easy-rsa is not installed (apt-get install easy-rsa)';
const noOpenssl = spawnSync('openssl', ['version']).status !== 0 && 'openssl is not installed';

interface Run {
  readonly status: number | null;
  readonly out: string;
}

/** One side of the twin: a working directory whose PKI is $EASYRSA_PKI = DIR/pki. */
class Side {
  readonly pki: string;
  constructor(
    readonly tool: 'easyrsa' | 'gatehouse',
    readonly dir: string,
  ) {
    this.pki = path.join(dir, 'pki');
  }

  run(args: readonly string[], env: Record<string, string> = {}): Run {
    const [cmd, argv] =
      this.tool === 'easyrsa' ? [EASYRSA, [...args]] : [process.execPath, [CLI, 'pki', ...args]];
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EASYRSA')));
    const r = spawnSync(cmd, argv, {
      cwd: this.dir,
      encoding: 'utf8',
      env: { ...base, EASYRSA_PKI: this.pki, ...env },
      timeout: 120_000,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  file(rel: string): string {
    return path.join(this.pki, rel);
  }
}

/** The same command line through both tools; both must exit with `status`. */
function both(
  sides: readonly Side[],
  args: readonly string[],
  status = 0,
  env: Record<string, string> = {},
): Run[] {
  return sides.map((s) => {
    const r = s.run(args, env);
    assert.equal(
      r.status,
      status,
      `${s.tool} ${args.join(' ')} exited ${r.status}, expected ${status}:\n${r.out}`,
    );
    return r;
  });
}

interface IndexLine {
  readonly status: string;
  readonly expiry: Date;
  readonly revoked: string;
  readonly serial: string;
  readonly filename: string;
  readonly subject: string;
}

function readIndex(s: Side): IndexLine[] {
  const text = fs.readFileSync(s.file('index.txt'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [status = '', expiry = '', revoked = '', serial = '', filename = '', subject = ''] =
        l.split('\t');
      assert.match(expiry, /^\d{12}Z$/, `${s.tool} index expiry format: ${l}`);
      // 16 random bytes in hex, as easy-rsa makes them; OpenSSL writes the number without its
      // leading zero bytes, so one serial in 256 is two digits shorter (CI met one of 30 digits).
      assert.match(serial, /^(?:[0-9A-F]{2}){1,16}$/, `${s.tool} index serial format: ${l}`);
      const y = Number(expiry.slice(0, 2));
      const iso = `${y < 50 ? 2000 + y : 1900 + y}-${expiry.slice(2, 4)}-${expiry.slice(4, 6)}T${expiry.slice(6, 8)}:${expiry.slice(8, 10)}:${expiry.slice(10, 12)}Z`;
      return { status, expiry: new Date(iso), revoked, serial, filename, subject };
    });
}

/** The index lines of both sides agree: status, expiry (within a minute), serial format, subject. */
function assertSameIndex(sides: readonly Side[]): void {
  const [a, b] = sides.map(readIndex) as [IndexLine[], IndexLine[]];
  assert.equal(a.length, b.length, 'index.txt line count');
  a.forEach((x, i) => {
    const y = b[i]!;
    assert.equal(y.status, x.status, `index line ${i + 1} status`);
    assert.equal(y.subject, x.subject, `index line ${i + 1} subject`);
    assert.equal(y.filename, x.filename, `index line ${i + 1} filename`);
    assert.ok(Math.abs(y.expiry.getTime() - x.expiry.getTime()) < 120_000, `index line ${i + 1} expiry`);
    assert.equal(y.revoked === '', x.revoked === '', `index line ${i + 1} revocation field`);
  });
}

interface CertFacts {
  readonly subject: string;
  /** openssl's view of the extensions scripts check. */
  readonly extensions: string;
  readonly days: number;
  readonly key: string;
}

function certFacts(file: string): CertFacts {
  const text = execFileSync(
    'openssl',
    [
      'x509',
      '-in',
      file,
      '-noout',
      '-subject',
      '-nameopt',
      'RFC2253',
      '-ext',
      'basicConstraints,keyUsage,extendedKeyUsage,subjectAltName',
    ],
    { encoding: 'utf8' },
  );
  const c = new X509Certificate(fs.readFileSync(file));
  const days = Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000);
  const k = c.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  const key = `${k.asymmetricKeyType} ${d.namedCurve ?? d.modulusLength ?? ''}`.trim();
  const [subject = '', ...rest] = text.trim().split('\n');
  return { subject, extensions: rest.join('\n'), days, key };
}

/** Certificate NAME (issued/NAME.crt, or "ca") has the same facts on both sides. */
function assertSameCert(sides: readonly Side[], name: string, skipKey = false): CertFacts {
  const rel = name === 'ca' ? 'ca.crt' : `issued/${name}.crt`;
  const [a, b] = sides.map((s) => certFacts(s.file(rel))) as [CertFacts, CertFacts];
  assert.equal(b.subject, a.subject, `${name}: subject`);
  assert.equal(b.extensions, a.extensions, `${name}: extensions`);
  assert.equal(b.days, a.days, `${name}: validity days`);
  if (!skipKey) assert.equal(b.key, a.key, `${name}: key`);
  return a;
}

/** The PKI's files, with serial-named files reduced to their directory and extension. */
function fileSet(s: Side): string[] {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      const rel = path.relative(s.pki, p);
      // easy-rsa's own working files, which Gatehouse does not keep.
      if (/(^|\/)(safessl-easyrsa\.cnf|vars\.example)$|\.old$/.test(rel)) continue;
      out.add(rel.replace(/(by_serial\/)(?:[0-9A-F]{2}){1,16}\./, '$1SERIAL.'));
    }
  };
  walk(s.pki);
  return [...out].sort();
}

function opensslOk(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test(
  'easy-rsa command lines give the same PKI through easyrsa and gatehouse pki',
  { skip: noEasyRsa || noOpenssl },
  async (t) => {
    const base = tempDir(t, 'gh-easyrsa-compat-');
    const sides = (['easyrsa', 'gatehouse'] as const).map((tool) => {
      const dir = path.join(base, tool);
      fs.mkdirSync(dir);
      return new Side(tool, dir);
    });
    const [er, gh] = sides as [Side, Side];

    await t.test('EASYRSA_PKI + init-pki makes the PKI there', () => {
      both(sides, ['init-pki']);
      for (const s of sides) {
        for (const d of ['private', 'reqs'])
          assert.ok(fs.statSync(s.file(d)).isDirectory(), `${s.tool}: ${d}/`);
        assert.ok(fs.existsSync(s.file('vars')), `${s.tool}: vars`);
        assert.ok(fs.existsSync(s.file('openssl-easyrsa.cnf')), `${s.tool}: openssl-easyrsa.cnf`);
        assert.ok(!fs.existsSync(path.join(s.dir, 'pki', 'ca.crt')));
      }
      both(sides, [
        '--batch',
        '--use-algo=ec',
        '--curve=prime256v1',
        '--req-cn=Twin CA',
        'build-ca',
        'nopass',
      ]);
      const ca = assertSameCert(sides, 'ca');
      assert.equal(ca.subject, 'subject=CN=Twin CA');
      assert.equal(ca.days, 3650);
      assert.equal(ca.key, 'ec prime256v1');
      assert.match(ca.extensions, /CA:TRUE/);
      assert.match(ca.extensions, /Certificate Sign, CRL Sign/);
    });

    await t.test('--batch --days=30 --san=DNS:a,IP:10.0.0.1 build-server-full s nopass', () => {
      both(sides, ['--batch', '--days=30', '--san=DNS:a,IP:10.0.0.1', 'build-server-full', 's', 'nopass']);
      // The one documented difference: with no algorithm set, easy-rsa makes RSA 2048, gatehouse EC P-256.
      const s = assertSameCert(sides, 's', true);
      assert.equal(s.days, 30);
      assert.match(s.extensions, /DNS:a, IP Address:10\.0\.0\.1/);
      assert.match(s.extensions, /TLS Web Server Authentication/);
      assert.match(s.extensions, /Digital Signature, Key Encipherment/);
      assert.equal(certFacts(er.file('issued/s.crt')).key, 'rsa 2048');
      assert.equal(certFacts(gh.file('issued/s.crt')).key, 'ec prime256v1');
      assertSameIndex(sides);
    });

    await t.test('--use-algo=ec --curve=secp384r1 and --use-algo=ed --curve=ed25519', () => {
      both(sides, ['--batch', '--use-algo=ec', '--curve=secp384r1', 'build-client-full', 'e', 'nopass']);
      assert.equal(assertSameCert(sides, 'e').key, 'ec secp384r1');
      both(sides, ['--batch', '--use-algo=ed', '--curve=ed25519', 'build-client-full', 'd', 'nopass']);
      assert.equal(assertSameCert(sides, 'd').key, 'ed25519');
      // easy-rsa 3.1's default curve is secp384r1, which is no Edwards curve: both refuse.
      both(sides, ['--batch', '--use-algo=ed', 'build-client-full', 'd2', 'nopass'], 1);
      assertSameIndex(sides);
    });

    await t.test('gen-req (org DN, RSA from the environment) then sign-req client', () => {
      const env = { EASYRSA_ALGO: 'rsa', EASYRSA_KEY_SIZE: '2048' };
      both(
        sides,
        [
          '--batch',
          '--dn-mode=org',
          '--req-org=Acme',
          '--req-c=DE',
          '--req-email=',
          'gen-req',
          'g',
          'nopass',
        ],
        0,
        env,
      );
      for (const s of sides)
        assert.ok(fs.existsSync(s.file('reqs/g.req')) && fs.existsSync(s.file('private/g.key')));
      both(sides, ['--batch', 'sign-req', 'client', 'g']);
      const g = assertSameCert(sides, 'g');
      assert.equal(g.key, 'rsa 2048');
      assert.equal(
        g.subject,
        'subject=CN=g,OU=My Organizational Unit,O=Acme,L=San Francisco,ST=California,C=DE',
      );
      assert.match(g.extensions, /TLS Web Client Authentication/);
      assert.doesNotMatch(g.extensions, /Alternative Name/);
      assertSameIndex(sides);
      assert.equal(
        readIndex(gh).at(-1)?.subject,
        '/C=DE/ST=California/L=San Francisco/O=Acme/OU=My Organizational Unit/CN=g',
      );
    });

    await t.test('import-req of an openssl-made CSR, then sign-req server and client', () => {
      const csr = path.join(base, 'ext.csr');
      opensslOk([
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(base, 'ext.key'),
        '-out',
        csr,
        '-subj',
        '/O=Ext/CN=ext.example',
        '-addext',
        'subjectAltName=DNS:ext.example,DNS:alt.example',
      ]);
      both(sides, ['--batch', 'import-req', csr, 'x']);
      both(sides, ['--batch', 'import-req', csr, 'x'], 1); // the name is taken
      both(sides, ['--batch', 'sign-req', 'server', 'x']);
      const x = assertSameCert(sides, 'x');
      assert.match(x.extensions, /DNS:ext\.example, DNS:alt\.example/);
      assert.equal(x.subject, 'subject=CN=ext.example,O=Ext');
      // A client certificate does not take the request's SAN (no copy_extensions in easy-rsa).
      both(sides, ['--batch', 'import-req', csr, 'xc']);
      both(sides, ['--batch', 'sign-req', 'client', 'xc']);
      assert.doesNotMatch(assertSameCert(sides, 'xc').extensions, /Alternative Name/);
      for (const s of sides)
        assert.equal(fs.readFileSync(s.file('reqs/x.req'), 'utf8'), fs.readFileSync(csr, 'utf8'));
      assertSameIndex(sides);
    });

    await t.test('export-p12 (openssl pkcs12 reads it with the pass) and export-p7', () => {
      both(sides, ['--batch', '--passout=pass:secret1', 'export-p12', 's']);
      for (const s of sides) {
        const p12 = s.file('private/s.p12');
        assert.equal(fs.statSync(p12).mode & 0o777, 0o600, `${s.tool}: p12 mode`);
        const out = opensslOk(['pkcs12', '-in', p12, '-passin', 'pass:secret1', '-nodes']);
        assert.match(out, /subject=CN = s/, `${s.tool}: p12 holds the certificate`);
        assert.match(out, /subject=CN = Twin CA/, `${s.tool}: p12 holds the CA`);
        assert.match(out, /BEGIN PRIVATE KEY/, `${s.tool}: p12 holds the key`);
        const wrong = spawnSync('openssl', ['pkcs12', '-in', p12, '-passin', 'pass:wrong', '-nokeys'], {
          encoding: 'utf8',
        });
        assert.notEqual(wrong.status, 0, `${s.tool}: a wrong password opens the p12`);
      }
      both(sides, ['--batch', 'export-p12', 'e', 'nopass', 'noca']);
      for (const s of sides) {
        const out = opensslOk(['pkcs12', '-in', s.file('private/e.p12'), '-passin', 'pass:', '-nodes']);
        assert.match(out, /subject=CN = e/);
        assert.equal(out.match(/BEGIN CERTIFICATE/g)?.length, 1, `${s.tool}: noca leaves the CA out`);
      }
      both(sides, ['--batch', 'export-p7', 's']);
      for (const s of sides) {
        const out = opensslOk(['pkcs7', '-in', s.file('issued/s.p7b'), '-print_certs', '-noout']);
        assert.deepEqual(out.match(/^subject=.*$/gm), ['subject=CN = s', 'subject=CN = Twin CA'], s.tool);
      }
    });

    await t.test('renew: only near expiry; old files to renewed/, new key and certificate', () => {
      both(sides, ['--batch', '--days=10', '--san=DNS:r.example', 'build-server-full', 'r', 'nopass']);
      both(sides, ['--batch', 'export-p7', 'r']);
      const oldKeys = sides.map((s) => fs.readFileSync(s.file('private/r.key'), 'utf8'));
      both(sides, ['--batch', 'renew', 'r', 'nopass']);
      sides.forEach((s, i) => {
        for (const f of ['renewed/issued/r.crt', 'renewed/private/r.key', 'renewed/reqs/r.req']) {
          assert.ok(fs.existsSync(s.file(f)), `${s.tool}: ${f}`);
        }
        assert.notEqual(fs.readFileSync(s.file('private/r.key'), 'utf8'), oldKeys[i], `${s.tool}: a new key`);
        assert.ok(!fs.existsSync(s.file('issued/r.p7b')), `${s.tool}: the old p7b is gone`);
      });
      const r = assertSameCert(sides, 'r', true);
      assert.equal(r.days, 825);
      assert.match(r.extensions, /DNS:r\.example/);
      both(sides, ['--batch', 'renew', 'e', 'nopass'], 1); // 825 days left: refused
      assertSameIndex(sides);
    });

    await t.test('show-req, show-cert, show-ca, gen-crl, show-crl and update-db exit 0', () => {
      for (const args of [
        ['show-req', 'g'],
        ['show-cert', 'g'],
        ['show-ca'],
        ['gen-crl'],
        ['show-crl'],
        ['update-db'],
      ]) {
        const runs = both(sides, ['--batch', ...args]);
        if (args[0] === 'show-req' || args[0] === 'show-cert') {
          for (const r of runs) assert.match(r.out, /organizationName\s+= Acme\n\s+organizationalUnitName/);
        }
        if (args[0] === 'show-cert')
          for (const r of runs) assert.match(r.out, /TLS Web Client Authentication/);
        if (args[0] === 'show-crl') for (const r of runs) assert.match(r.out, /Issuer: CN = Twin CA/);
      }
      both(sides, ['--batch', 'show-cert', 'nosuch'], 1);
    });

    await t.test('failures: sign-req of a missing request, revoke of an unknown name', () => {
      both(sides, ['--batch', 'sign-req', 'client', 'missing'], 1);
      both(sides, ['--batch', 'revoke', 'unknown'], 1);
      both(sides, ['--batch', 'sign-req', 'nosuchtype', 'g'], 1);
      both(sides, ['--batch', 'revoke', 'g', 'keyCompromise']);
      const [a, b] = sides.map((s) => readIndex(s).find((l) => l.subject.endsWith('/CN=g'))) as [
        IndexLine,
        IndexLine,
      ];
      assert.equal(a.status, 'R');
      assert.equal(b.status, 'R');
      assert.match(b.revoked, /^\d{12}Z,keyCompromise$/);
      assert.match(a.revoked, /^\d{12}Z,keyCompromise$/);
      assertSameIndex(sides);
    });

    await t.test('a vars file in the PKI: command line > environment > vars > defaults', () => {
      for (const s of sides) {
        fs.writeFileSync(
          s.file('vars'),
          [
            '# test settings',
            'set_var EASYRSA_CERT_EXPIRE\t100',
            'set_var EASYRSA_DN\t"org"',
            'set_var EASYRSA_REQ_ORG\t"Vars Org"',
            'set_var EASYRSA_REQ_COUNTRY\t"NL"',
            'set_var EASYRSA_ALGO\tec',
            'set_var EASYRSA_CURVE\tsecp521r1',
            '',
          ].join('\n'),
        );
      }
      both(sides, ['--batch', 'build-client-full', 'v1', 'nopass']);
      const v1 = assertSameCert(sides, 'v1');
      assert.equal(v1.days, 100);
      assert.equal(v1.key, 'ec secp521r1');
      assert.match(v1.subject, /O=Vars Org,.*C=NL$/);
      both(sides, ['--batch', 'build-client-full', 'v2', 'nopass'], 0, { EASYRSA_CERT_EXPIRE: '200' });
      assert.equal(assertSameCert(sides, 'v2').days, 200);
      both(sides, ['--batch', '--days=300', '--req-org=Cli', 'build-client-full', 'v3', 'nopass'], 0, {
        EASYRSA_CERT_EXPIRE: '200',
      });
      const v3 = assertSameCert(sides, 'v3');
      assert.equal(v3.days, 300);
      assert.match(v3.subject, /O=Cli,/);
      assertSameIndex(sides);
    });

    await t.test('both PKIs hold the same files', () => {
      assert.deepEqual(fileSet(gh), fileSet(er));
      for (const s of sides) {
        for (const f of ['index.txt', 'index.txt.attr', 'serial', 'crl.pem'])
          assert.ok(fs.existsSync(s.file(f)), `${s.tool}: ${f}`);
      }
    });
  },
);

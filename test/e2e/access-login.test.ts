// Login through an OpenID Connect provider, end to end: panva's oidc-provider (certified) on
// loopback over HTTPS with a user directory carrying a groups claim; `gatehouse login` runs the
// code flow (PKCE, loopback redirect) and the device grant, each driven through the provider's own
// pages in headless Chromium; the daemon checks the ID token and signs the client's key with the
// login CA. The certificate reaches what its groups allow, has the configured lifetime, is
// refused once revoked; forged, expired, mis-addressed and replayed tokens and a user outside the
// allowed groups are refused with a code and a next step; every login is an audit line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, run, startRedis, stopProcess, track, type Server } from '../helpers/procs.js';
import { CLI, startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type TestPki } from '../helpers/access-pki.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { tempDir } from '../helpers/temp.js';
import { parseProfile, certificateProblem, type ClientProfile } from '../../src/access-client/profile.js';
import { buildFull, groupsFromCertificate, loginNonce, parseSan } from '../../src/pki/index.js';
import { generateKey, webSigner } from '../../src/pki/keys.js';
import { x509 } from '../../src/pki/x509.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const TTL_MS = 2 * 3600_000;

const dir = tempDir({ after }, 'gh-access-login-');
let pki: TestPki;
let idp: TestIdp;
let gh: Gatehouse;
let redisDev: Server;
let redisOps: Server;
let port: number;
let downPort: number;
let browser: Browser | undefined;
let env: NodeJS.ProcessEnv;

const loginCa = () => path.join(pki.dir, 'login-ca');

before(async () => {
  pki = await mintPki(['DNS:gw.example.test', 'IP:127.0.0.1'], dir);
  const idpCert = await buildFull(pki.dir, 'server', 'idp', { sans: [parseSan('IP:127.0.0.1')] });
  idp = await startIdp({
    cert: fs.readFileSync(idpCert.files.cert, 'utf8'),
    key: fs.readFileSync(idpCert.files.key, 'utf8'),
    users: {
      alice: { email: 'alice@example.test', groups: ['developers', 'sales'] },
      bob: { email: 'bob@example.test', groups: ['ops'] },
      mallory: { email: 'mallory@example.test', groups: ['sales'] },
    },
  });
  fs.writeFileSync(path.join(dir, 'oidc.secret'), `${idp.clientSecret}\n`, { mode: 0o600 });
  // The provider's certificate is from the test PKI: the daemon and the CLI trust it this way.
  env = { ...process.env, NODE_EXTRA_CA_CERTS: pki.ca };
  [redisDev, redisOps] = await Promise.all([startRedis(), startRedis()]);
  [port, downPort] = await Promise.all([freePort(), freePort()]);
  const dead = await freePort(); // nothing listens here: a provider that is down
  gh = await startGatehouse(
    `pki: ./pki
accessEndpoints:
  dev:
    listen: "127.0.0.1:${port}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", ports: "${redisDev.port}", groups: [developers] }
      - { target: "127.0.0.1/32", ports: "${redisOps.port}", groups: [ops] }
    login:
      oidc:
        issuer: "${idp.issuer}"
        clientId: ${idp.clientId}
        clientSecretFile: ./oidc.secret
        scopes: [openid, email, groups]
        groupsClaim: groups
        allowedGroups: [developers, ops]
      certificateTtl: 2h
  down:
    listen: "127.0.0.1:${downPort}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", allGroups: true }
    login:
      oidc: { issuer: "https://127.0.0.1:${dead}", clientId: gatehouse, allowedGroups: [developers] }
admin:
  enabled: false
`,
    { dir, env: { NODE_EXTRA_CA_CERTS: pki.ca } },
  );
  if (haveChromium)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
      ],
    });
});

/** CLI processes a test started: stopped at the end whatever happened (a device login polls for minutes). */
const clis: ChildProcess[] = [];

after(async () => {
  await Promise.all(clis.map((p) => stopProcess(p)));
  await browser?.close();
  await gh?.stop();
  await idp?.stop();
  await redisDev?.stop();
  await redisOps?.stop();
});

interface Cli {
  proc: ChildProcess;
  lines: string[];
  stdout(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(): Promise<number>;
}

/** A gatehouse CLI process whose stderr lines a test can wait on. */
function startCli(...args: string[]): Cli {
  const proc = track(spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  clis.push(proc);
  const lines: string[] = [];
  let out = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    proc.stderr!.emit('lines');
  });
  const exit = once(proc, 'exit').then(([code]) => code as number);
  return {
    proc,
    lines,
    stdout: () => out,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`no line matching ${re}; have:\n${lines.join('\n')}`)),
          timeoutMs,
        );
        const check = () => {
          for (const l of lines) {
            const m = re.exec(l);
            if (m) return done(undefined, m);
          }
        };
        const done = (err?: Error, m?: RegExpMatchArray) => {
          clearTimeout(timer);
          proc.stderr!.removeListener('lines', check);
          void exit.then(() => proc.stderr!.removeListener('end', check));
          if (err) reject(err);
          else resolve(m!);
        };
        proc.stderr!.on('lines', check);
        void exit.then(() => {
          check();
          done(new Error(`exited without a line matching ${re}; have:\n${lines.join('\n')}`));
        });
        check();
      });
    },
    exited: () => exit,
  };
}

/** A fresh browser context (no provider session), loopback only: the provider's pages import web fonts. */
async function newPage(): Promise<Page> {
  const context = await browser!.newContext({ ignoreHTTPSErrors: true });
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  return context.newPage();
}

/** The provider's login form, then its consent form. */
async function signIn(page: Page, user: string): Promise<void> {
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
  await page.waitForSelector('input[name=prompt][value=consent]', { state: 'attached' });
  await page.click('button[type=submit]');
}

function loginProfile(name: string, endpoint = 'dev'): string {
  const out = path.join(dir, `${name}.profile`);
  const r = spawnSync(process.execPath, [CLI, 'client-config', endpoint, '-c', gh.configPath, '-o', out], {
    encoding: 'utf8',
    env,
  });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

const readProfileFile = (file: string): ClientProfile => parseProfile(fs.readFileSync(file, 'utf8'), file);

/** A login request body by hand, with a fresh key: for tokens no provider would hand out. */
async function loginBody(idToken: (nonce: string) => Promise<string>): Promise<string> {
  const keys = await generateKey('ec-p256');
  const signer = await webSigner(keys.privateKey);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=test',
    keys: { privateKey: signer.privateKey, publicKey: signer.publicKey },
    signingAlgorithm: signer.signingAlgorithm,
  });
  const token = await idToken(loginNonce(new Uint8Array(csr.publicKey.rawData)));
  return JSON.stringify({ idToken: token, csr: csr.toString('pem'), grant: 'code' });
}

function send(body: string, at = port): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: at,
      method: 'POST',
      path: '/gatehouse/login',
      ca: fs.readFileSync(pki.ca),
      headers: { 'content-type': 'application/json' },
      agent: false,
    });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
      );
    });
    req.end(body);
  });
}

async function postLogin(idToken: (nonce: string) => Promise<string>, at = port) {
  return send(await loginBody(idToken), at);
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (nonce: string, over: Record<string, unknown> = {}) => ({
  iss: idp.issuer,
  aud: idp.clientId,
  sub: 'alice',
  email: 'alice@example.test',
  groups: ['developers'],
  nonce,
  iat: now(),
  exp: now() + 600,
  ...over,
});

test('build-login-ca: an intermediate under the CA, key 0600, in the CA index, with its own CRL', async () => {
  // A PKI of its own: the daemon's makes its login CA at the first login (below).
  const other = await mintPki(['IP:127.0.0.1'], path.join(dir, 'other'));
  const sub = path.join(other.dir, 'login-ca');
  const r = await run(process.execPath, [CLI, 'pki', '--pki', other.dir, 'build-login-ca']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.statSync(path.join(sub, 'private', 'ca.key')).mode & 0o777, 0o600);
  const v = spawnSync('openssl', ['verify', '-CAfile', other.ca, path.join(sub, 'ca.crt')], {
    encoding: 'utf8',
  });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const text = spawnSync('openssl', ['x509', '-noout', '-text', '-in', path.join(sub, 'ca.crt')], {
    encoding: 'utf8',
  }).stdout;
  assert.match(text, /CA:TRUE, pathlen:0/);
  assert.match(fs.readFileSync(path.join(other.dir, 'index.txt'), 'utf8'), /\/CN=Gatehouse login CA/);
  const crl = spawnSync('openssl', ['crl', '-noout', '-issuer', '-in', path.join(sub, 'crl.pem')], {
    encoding: 'utf8',
  });
  assert.match(crl.stdout, /Gatehouse login CA/);
  const again = await run(process.execPath, [CLI, 'pki', '--pki', other.dir, 'build-login-ca']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /GH_ERR_PKI_EXISTS/);
});

test('client-config without --client writes a login profile; connect says to log in first', async () => {
  const file = loginProfile('fresh');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const p = readProfileFile(file);
  assert.equal(p.cert, undefined);
  assert.equal(p.key, undefined);
  assert.deepEqual(p.login, {
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    scopes: ['openid', 'email', 'groups'],
  });
  const c = await run(process.execPath, [CLI, 'connect', file, '--forward', '0:127.0.0.1:1'], { env });
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /GH_ERR_ACCESS_REFUSED: .*no certificate yet/);
  assert.match(c.stderr, new RegExp(`next: run \`gatehouse login ${file.replace(/[.]/g, '\\.')}\``));
});

let alice: ClientProfile;
let aliceFile: string;

test(
  'login (code flow in Chromium): a certificate for the allowed groups only, for certificateTtl',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    aliceFile = loginProfile('alice');
    const cli = startCli('login', aliceFile, '--no-browser');
    const [url] = await cli.waitFor(/^\s+(https:\/\/\S+)$/);
    const page = await newPage();
    await page.goto(url.trim());
    await signIn(page, 'alice');
    await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback/);
    assert.equal(await cli.exited(), 0, cli.lines.join('\n'));
    await page.context().close();
    alice = readProfileFile(aliceFile);
    assert.equal(alice.commonName, 'alice@example.test');
    assert.deepEqual(alice.groups, ['developers']); // sales is not an allowed group
    assert.deepEqual(alice.targets, [`127.0.0.1/32 ports ${redisDev.port}`]);
    assert.match(alice.key ?? '', /PRIVATE KEY/);
    assert.equal(fs.statSync(aliceFile).mode & 0o777, 0o600);
    const cert = new X509Certificate(alice.cert!);
    assert.deepEqual(groupsFromCertificate(cert), ['developers']);
    assert.match(cert.issuer, /CN=Gatehouse login CA/);
    // Valid from a minute ago (clock skew) for exactly certificateTtl.
    assert.equal(Date.parse(cert.validTo) - Date.parse(cert.validFrom), TTL_MS + 60_000);
    const chain = path.join(dir, 'alice-chain.pem');
    fs.writeFileSync(chain, alice.cert!);
    const v = spawnSync('openssl', ['verify', '-CAfile', pki.ca, '-untrusted', chain, chain], {
      encoding: 'utf8',
    });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(cli.stdout(), /logged in as alice@example\.test/);
    assert.match(cli.stdout(), new RegExp(`certificate ${cert.serialNumber}, valid until`));
    // The first login made the login CA (the CA key is readable here), key 0600.
    await gh.waitForLog((l) => l.msg === 'created the login CA on first login');
    assert.equal(fs.statSync(path.join(loginCa(), 'private', 'ca.key')).mode & 0o777, 0o600);
    const line = await gh.waitForAudit(
      (l) => l.event === 'login' && l.allowed === true && l.subject === 'alice',
    );
    assert.equal(line.identity, 'alice@example.test');
    assert.deepEqual(line.groups, ['developers']);
    assert.equal(line.serial, cert.serialNumber.replace(/^0+/, ''));
    assert.equal(line.notAfter, new Date(cert.validTo).toISOString());
    assert.equal(line.endpoint, 'dev');
    // A connection that came to log in is not logged as a refused certificate.
    assert.equal(gh.audit.filter((l) => l.reason === 'no_certificate').length, 0);
    // Once expired, the profile says what to do.
    assert.match(
      certificateProblem(alice, new Date(Date.now() + TTL_MS + 60_000), aliceFile) ?? '',
      /expired.*run `gatehouse login/,
    );
  },
);

interface Connect {
  proc: ChildProcess;
  cli: Cli;
}

function connect(file: string, ...forwards: string[]): Connect {
  const cli = startCli('connect', file, ...forwards.flatMap((f) => ['--forward', f]));
  return { proc: cli.proc, cli };
}

test(
  'the login certificate reaches what its groups allow; revoking it closes its session',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    assert.ok(alice, 'needs the code-flow login');
    const [dev, ops] = await Promise.all([freePort(), freePort()]);
    const c = connect(aliceFile, `${dev}:127.0.0.1:${redisDev.port}`, `${ops}:127.0.0.1:${redisOps.port}`);
    try {
      await c.cli.waitFor(new RegExp(`forward 127\\.0\\.0\\.1:${redisOps.port}`));
      const ok = await run('redis-cli', ['-p', String(dev), 'PING']);
      assert.equal(ok.stdout.trim(), 'PONG', ok.stderr + c.cli.lines.join('\n'));
      const no = await run('redis-cli', ['-p', String(ops), 'PING']);
      assert.notEqual(no.stdout.trim(), 'PONG');
      await c.cli.waitFor(new RegExp(`not authorized for 127\\.0\\.0\\.1:${redisOps.port}`));
      // A session that stays open, then the login certificate is revoked in the login CA.
      const held = spawn('redis-cli', ['-p', String(dev)], { stdio: ['pipe', 'pipe', 'ignore'] });
      track(held);
      clis.push(held);
      held.stdin!.write('PING\n');
      await once(held.stdout!, 'data');
      // Its name in the login CA is the serial as OpenSSL prints it; audit lines drop leading zeros.
      const name = new X509Certificate(alice.cert!).serialNumber;
      const serial = name.replace(/^0+/, '');
      const r1 = await run(process.execPath, [CLI, 'pki', '--pki', loginCa(), 'revoke', name]);
      assert.equal(r1.code, 0, r1.stderr);
      const r2 = await run(process.execPath, [CLI, 'pki', '--pki', loginCa(), 'gen-crl']);
      assert.equal(r2.code, 0, r2.stderr);
      const closed = await gh.waitForAudit(
        (l) => l.event === 'closed' && l.reason === 'revoked' && l.commonName === 'alice@example.test',
      );
      assert.equal(closed.serial, serial);
      // Each worker process loads the CRL itself: a reconnect may reach any of them.
      const workers = Number(process.env.GATEHOUSE_TEST_WORKERS ?? '1');
      const loaded = () => gh.logs.filter((l) => l.msg === 'CRL loaded' && l.loginRevoked === 1).length;
      await gh.waitForLog(() => loaded() >= workers);
      const after = await run('redis-cli', ['-p', String(dev), 'PING']);
      assert.notEqual(after.stdout.trim(), 'PONG');
      await c.cli.waitFor(/your client certificate is revoked/);
      held.kill();
    } finally {
      await stopProcess(c.proc);
    }
  },
);

test(
  'login --device through the provider verification page',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    const file = loginProfile('bob');
    const cli = startCli('login', file, '--device');
    const [, url] = await cli.waitFor(/visit (https:\/\/\S+)/);
    const page = await newPage();
    await page.goto(url!);
    await page.click('button[autofocus]'); // "Continue": the code shown matches
    await signIn(page, 'bob');
    await page.waitForSelector('text=Sign-in Success');
    assert.equal(await cli.exited(), 0, cli.lines.join('\n'));
    await page.context().close();
    const bob = readProfileFile(file);
    assert.deepEqual(bob.groups, ['ops']);
    assert.equal(bob.commonName, 'bob@example.test');
    await gh.waitForAudit((l) => l.event === 'login' && l.allowed === true && l.subject === 'bob');
    // The certificate works: bob's group reaches the ops redis.
    const ops = await freePort();
    const c = connect(file, `${ops}:127.0.0.1:${redisOps.port}`);
    try {
      await c.cli.waitFor(/listening on/);
      const ok = await run('redis-cli', ['-p', String(ops), 'PING']);
      assert.equal(ok.stdout.trim(), 'PONG', ok.stderr + c.cli.lines.join('\n'));
    } finally {
      await stopProcess(c.proc);
    }
  },
);

test(
  'a user in no allowed group is refused with a code and a next step (device flow in Chromium)',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    const file = loginProfile('mallory');
    const cli = startCli('login', file, '--device');
    const [, url] = await cli.waitFor(/visit (https:\/\/\S+)/);
    const page = await newPage();
    await page.goto(url!);
    await page.click('button[autofocus]');
    await signIn(page, 'mallory');
    assert.equal(await cli.exited(), 1);
    await page.context().close();
    const text = cli.lines.join('\n');
    assert.match(
      text,
      /error GH_ERR_LOGIN_REFUSED: login refused: mallory@example\.test is in none of the groups this endpoint allows \(groups: sales\)/,
    );
    assert.match(
      text,
      /next: ask an administrator of the identity provider to add you to one of: developers, ops/,
    );
    assert.equal(readProfileFile(file).cert, undefined);
    const line = await gh.waitForAudit(
      (l) => l.event === 'login' && l.allowed === false && l.subject === 'mallory',
    );
    assert.equal(line.reason, 'not_in_allowed_group');
  },
);

test('forged, expired, mis-addressed, unbound and replayed tokens are refused', async () => {
  const other = await generateKeyPair('RS256');
  const forged = await postLogin((nonce) =>
    new SignJWT(claims(nonce)).setProtectedHeader({ alg: 'RS256', kid: 'idp-key-1' }).sign(other.privateKey),
  );
  assert.equal(forged.status, 403);
  assert.equal(forged.body.code, 'GH_ERR_LOGIN_REFUSED');
  assert.equal(forged.body.reason, 'bad_signature');

  const expired = await postLogin((nonce) =>
    idp.sign(claims(nonce, { iat: now() - 7200, exp: now() - 3600 })),
  );
  assert.equal(expired.status, 403);
  assert.equal(expired.body.reason, 'expired');
  assert.match(String(expired.body.hint), /gatehouse login/);

  const audience = await postLogin((nonce) => idp.sign(claims(nonce, { aud: 'another-client' })));
  assert.equal(audience.body.reason, 'wrong_audience');
  assert.match(String(audience.body.message), /another-client/);

  const unbound = await postLogin(() => idp.sign(claims('a-nonce-for-another-key')));
  assert.equal(unbound.body.reason, 'nonce_mismatch');

  const groupless = await postLogin((nonce) => idp.sign(claims(nonce, { sub: 'eve', groups: ['sales'] })));
  assert.equal(groupless.body.reason, 'not_in_allowed_group');

  // A good token is taken once: the same request again is a replay.
  const body = await loginBody((nonce) => idp.sign({ ...claims(nonce), jti: `jti-${Date.now()}` }));
  const first = await send(body);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const replay = await send(body);
  assert.equal(replay.status, 403);
  assert.equal(replay.body.reason, 'replayed');

  for (const reason of ['bad_signature', 'expired', 'wrong_audience', 'nonce_mismatch', 'replayed'])
    await gh.waitForAudit((l) => l.event === 'login' && l.allowed === false && l.reason === reason);
});

test('the provider down: the endpoint answers 503 GH_ERR_LOGIN_PROVIDER, login says so', async () => {
  const r = await postLogin((nonce) => idp.sign(claims(nonce)), downPort);
  assert.equal(r.status, 503);
  assert.equal(r.body.code, 'GH_ERR_LOGIN_PROVIDER');
  assert.match(String(r.body.message), /ECONNREFUSED/);
  const file = loginProfile('down', 'down');
  const cli = startCli('login', file, '--device');
  assert.equal(await cli.exited(), 1);
  const text = cli.lines.join('\n');
  assert.match(
    text,
    /error GH_ERR_LOGIN_PROVIDER: cannot reach the OpenID provider https:\/\/127\.0\.0\.1:\d+/,
  );
  assert.match(text, /next: the identity provider is down/);
});

test('a client without a certificate that does not log in is still logged as refused', async () => {
  await new Promise<void>((resolve) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      method: 'CONNECT',
      path: `127.0.0.1:${redisDev.port}`,
      ca: fs.readFileSync(pki.ca),
      agent: false,
    });
    req.once('connect', (res, socket) => {
      assert.equal(res.statusCode, 403);
      socket.destroy();
      resolve();
    });
    req.once('response', (res) => {
      assert.equal(res.statusCode, 403);
      res.resume();
      resolve();
    });
    req.once('error', () => resolve());
    req.end();
  });
  await gh.waitForAudit((l) => l.event === 'denied' && l.reason === 'no_certificate' && l.endpoint === 'dev');
});

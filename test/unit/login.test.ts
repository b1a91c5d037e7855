// The pure parts of OpenID Connect login: which groups a token's claim gives (policy), and each
// check an ID token must pass (auth/oidc-token.ts) against a local key set, one refusal per case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { checkIdToken, NONCE_LESS_MAX_AGE_S } from '../../src/auth/oidc-token.js';
import { ProviderUnreachable } from '../../src/auth/oidc-provider-keys.js';
import { claimValues, decideLoginGroups } from '../../src/policy/login-groups.js';
import { loginCommonName, loginNonce } from '../../src/pki/index.js';
import { parseConfig } from '../../src/config/load.js';
import { mintPki } from '../helpers/access-pki.js';
import { tempDir } from '../helpers/temp.js';

test('groups: the claim filtered by allowedGroups, in claim order, once each; none is a refusal', () => {
  assert.deepEqual(decideLoginGroups(['sales', 'ops', 'developers', 'ops'], ['developers', 'ops']), {
    allowed: true,
    groups: ['ops', 'developers'],
  });
  assert.deepEqual(decideLoginGroups('ops', ['ops']), { allowed: true, groups: ['ops'] });
  assert.deepEqual(decideLoginGroups(['sales'], ['ops']), {
    allowed: false,
    reason: 'not_in_allowed_group',
    claimed: ['sales'],
  });
  assert.equal(decideLoginGroups(undefined, ['ops']).allowed, false);
  assert.equal(decideLoginGroups({ ops: true }, ['ops']).allowed, false);
  assert.deepEqual(claimValues(['a', 1, null, 'b']), ['a', 'b']);
});

test('loginNonce is base64url SHA-256; loginCommonName keeps index.txt-safe characters', () => {
  assert.equal(loginNonce(new Uint8Array([])), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
  assert.equal(loginCommonName('alice@example.com'), 'alice@example.com');
  assert.equal(loginCommonName('Alice Smith/CN=x'), 'Alice_Smith_CN_x');
  assert.equal(loginCommonName(''), 'login');
  assert.equal(loginCommonName('x'.repeat(80)).length, 64);
});

const ISSUER = 'https://idp.example.test';
const CLIENT = 'gatehouse';
const NONCE = 'bound-nonce';
const provider = await generateKeyPair('ES256');
const stranger = await generateKeyPair('ES256');
const jwks = createLocalJWKSet({
  keys: [{ ...(await exportJWK(provider.publicKey)), kid: 'k1', alg: 'ES256' }],
});
const now = () => Math.floor(Date.now() / 1000);

function sign(over: JWTPayload = {}, key = provider.privateKey): Promise<string> {
  return new SignJWT({
    iss: ISSUER,
    aud: CLIENT,
    sub: 'u1',
    nonce: NONCE,
    iat: now(),
    exp: now() + 300,
    ...over,
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(key);
}

function check(token: string, deviceGrant = false) {
  return checkIdToken(token, {
    issuer: ISSUER,
    clientId: CLIENT,
    keys: async () => jwks,
    nonce: NONCE,
    deviceGrant,
  });
}

async function reasonOf(token: Promise<string>, deviceGrant = false): Promise<string> {
  const r = await check(await token, deviceGrant);
  return r.ok ? 'ok' : r.reason;
}

test('ID token checks: each failure has its own reason', async () => {
  assert.equal(await reasonOf(sign()), 'ok');
  assert.equal(await reasonOf(sign({}, stranger.privateKey)), 'bad_signature');
  assert.equal(await reasonOf(sign({ iss: 'https://other.example.test' })), 'wrong_issuer');
  assert.equal(await reasonOf(sign({ aud: 'other-client' })), 'wrong_audience');
  // Several audiences: only with azp naming us.
  assert.equal(await reasonOf(sign({ aud: [CLIENT, 'other'], azp: 'other' })), 'wrong_audience');
  assert.equal(await reasonOf(sign({ aud: [CLIENT, 'other'], azp: CLIENT })), 'ok');
  assert.equal(await reasonOf(sign({ iat: now() - 7200, exp: now() - 3600 })), 'expired');
  assert.equal(await reasonOf(sign({ exp: now() - 30 })), 'ok'); // within the 60 s of skew
  assert.equal(await reasonOf(sign({ nbf: now() + 3600 })), 'not_yet_valid');
  assert.equal(await reasonOf(sign({ nonce: 'another' })), 'nonce_mismatch');
  assert.equal(await reasonOf(sign({ nonce: undefined })), 'nonce_mismatch');
  assert.equal(await reasonOf(sign({ nonce: undefined }), true), 'ok'); // the device grant
  assert.equal(
    await reasonOf(sign({ nonce: undefined, iat: now() - NONCE_LESS_MAX_AGE_S - 120 }), true),
    'stale_token',
  );
  assert.equal(await reasonOf(sign({ sub: undefined })), 'bad_token');
  assert.equal(await reasonOf(Promise.resolve('not.a.jwt')), 'bad_token');
});

test('ID token checks: an HMAC token and an unsigned one are refused', async () => {
  const hs = await new SignJWT({
    iss: ISSUER,
    aud: CLIENT,
    sub: 'u1',
    nonce: NONCE,
    iat: now(),
    exp: now() + 60,
  })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode('a-shared-secret-of-enough-length!!'));
  assert.equal(await reasonOf(Promise.resolve(hs)), 'bad_signature');
  const none = [
    Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url'),
    Buffer.from(
      JSON.stringify({ iss: ISSUER, aud: CLIENT, sub: 'u1', nonce: NONCE, iat: now(), exp: now() + 60 }),
    ).toString('base64url'),
    '',
  ].join('.');
  assert.notEqual(await reasonOf(Promise.resolve(none)), 'ok');
});

test('a provider that cannot be reached is not a refused token', async () => {
  const r = await checkIdToken(await sign(), {
    issuer: ISSUER,
    clientId: CLIENT,
    keys: async () => {
      throw new ProviderUnreachable(ISSUER, 'ECONNREFUSED');
    },
    nonce: NONCE,
    deviceGrant: false,
  });
  assert.deepEqual(r, { ok: false, reason: 'provider_unreachable', detail: 'ECONNREFUSED' });
});

const LOGIN_CONFIG = (login: string) => `pki: ./pki
accessEndpoints:
  dev:
    listen: "8443"
    serverCertificate: server
    login:
${login}
`;

test('login config: defaults, and FILE:LINE refusals for what would weaken it', async (t) => {
  const pki = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-login-config-'));
  const base = path.dirname(pki.dir);
  const ok = parseConfig(
    LOGIN_CONFIG(
      `      oidc: { issuer: "https://idp.example.com/realms/main/", clientId: gh, allowedGroups: [dev] }`,
    ),
    'a.yaml',
    base,
  ).config.accessEndpoints.dev!.login!;
  assert.equal(ok.oidc.issuer, 'https://idp.example.com/realms/main'); // trailing slash dropped
  assert.equal(ok.certificateTtl, 8 * 3600_000);
  assert.deepEqual(ok.oidc.scopes, ['openid', 'email', 'profile']);
  assert.equal(ok.oidc.groupsClaim, 'groups');
  assert.equal(ok.oidc.usernameClaim, 'email');
  const refused = (login: string, re: RegExp) =>
    assert.throws(
      () => parseConfig(LOGIN_CONFIG(login), 'a.yaml', base),
      (err: { details: string[] }) => {
        assert.match(err.details.join('\n'), re);
        return true;
      },
    );
  refused(
    `      oidc: { issuer: "http://idp.example.com", clientId: gh, allowedGroups: [dev] }`,
    /a\.yaml:7: accessEndpoints\.dev\.login\.oidc\.issuer: issuer must be https/,
  );
  refused(`      oidc: { issuer: "https://idp.example.com", clientId: gh }`, /a\.yaml:7: .*allowedGroups/);
  refused(
    `      oidc: { issuer: "https://idp.example.com", clientId: gh, allowedGroups: [dev] }\n      certificateTtl: 90d`,
    /certificateTtl must be between 1m and 31d/,
  );
  refused(
    `      oidc: { issuer: "https://idp.example.com", clientId: gh, allowedGroups: [dev], clientSecretFile: ./nope }`,
    /a\.yaml:7: file \S*nope does not exist/,
  );
  // A test provider on loopback may be plain http.
  parseConfig(
    LOGIN_CONFIG(`      oidc: { issuer: "http://127.0.0.1:9999", clientId: gh, allowedGroups: [dev] }`),
    'a.yaml',
    base,
  );
});

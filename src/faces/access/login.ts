// Login through an OpenID provider, served on an access endpoint's tunnel listener as
// `POST /gatehouse/login` (HTTP/1.1 over the endpoint's TLS; the client needs no certificate yet,
// which the handshake allows, and security groups admitted it before any TLS byte). The body is
// JSON: the ID token the client got from the provider, a PKCS#10 signing request for a key pair the
// client made (the private key never leaves it), and which grant gave the token. The token is
// checked (auth/oidc-token.ts), taken once (login-replay.ts), its groups claim filtered by
// `allowedGroups` (policy/login-groups.ts), and the key signed by the login CA
// (pki/login-ca.ts) for `certificateTtl`. Every outcome is one `login` audit line.
import type http from 'node:http';
import path from 'node:path';
import type { AccessLoginConfig } from '../../config/schema.js';
import type { AuditEventInput } from '../../audit/events.js';
import { ProviderKeys } from '../../auth/oidc-provider-keys.js';
import { checkIdToken } from '../../auth/oidc-token.js';
import { GatehouseError, REASON_HEADER, toWire, type ErrorCode } from '../../errors.js';
import {
  buildLoginCa,
  hasLoginCa,
  issueLoginCertificate,
  loginCaDir,
  loginCommonName,
  loginNonce,
} from '../../pki/index.js';
import { x509, type DomCryptoKey } from '../../pki/x509.js';
import { targetsForGroups } from '../../policy/authorization.js';
import { decideLoginGroups } from '../../policy/login-groups.js';
import type { FaceContext } from '../context.js';
import { peerFields, type EndpointSpec, type Peer } from './connection.js';
import { UsedTokens } from './login-replay.js';
import { normaliseSerial } from './trust.js';

export const LOGIN_PATH = '/gatehouse/login';
const MAX_BODY = 64 * 1024;

/** What outlives a config snapshot: provider keys and the used-token record (kept by the face). */
export interface LoginState {
  providerKeys(issuer: string): ProviderKeys;
  usedTokens(pkiDir: string): UsedTokens;
  pkiDir(): string | undefined;
  /** A login made the login CA: the endpoints trust it now, not at the next CRL poll. */
  loginCaCreated(): void;
}

export function makeLoginState(pkiDir: () => string | undefined, loginCaCreated: () => void): LoginState {
  const keys = new Map<string, ProviderKeys>();
  const used = new Map<string, UsedTokens>();
  return {
    pkiDir,
    loginCaCreated,
    providerKeys(issuer) {
      let k = keys.get(issuer);
      if (!k) keys.set(issuer, (k = new ProviderKeys(issuer)));
      return k;
    },
    usedTokens(dir) {
      let u = used.get(dir);
      if (!u) used.set(dir, (u = new UsedTokens(path.join(loginCaDir(dir), 'used-tokens'))));
      return u;
    },
  };
}

/** What the client gets back: its certificate (with the login CA's after it) and what it may reach. */
export interface LoginResponse {
  readonly endpoint: string;
  readonly commonName: string;
  readonly groups: readonly string[];
  readonly targets: readonly string[];
  readonly serial: string;
  readonly notAfter: string;
  readonly certificate: string;
}

/** A refusal with its reason and the hint for that reason (the catalog's hint is the fallback). */
class LoginRefusal extends GatehouseError {
  constructor(
    code: ErrorCode,
    readonly reason: string,
    args: readonly string[],
    hint?: string,
  ) {
    super(code, args, hint ? { hint } : {});
  }
}

const HINTS: Record<string, string> = {
  bad_signature:
    'the token was not signed by the provider this endpoint trusts: log in again with the profile from `gatehouse client-config`',
  wrong_issuer:
    'the profile and the endpoint name different providers: write a new profile with `gatehouse client-config ENDPOINT -o FILE`',
  wrong_audience:
    "the token was issued to another client: the profile's clientId must be login.oidc.clientId (write a new profile with `gatehouse client-config`)",
  expired: "run `gatehouse login PROFILE` again (and check this machine's clock)",
  not_yet_valid: "check this machine's clock and the provider's, then run `gatehouse login PROFILE` again",
  nonce_mismatch: 'a token is good only for the key it was asked for: run `gatehouse login PROFILE` again',
  stale_token: 'run `gatehouse login PROFILE --device` again and use the token at once',
  replayed: 'each ID token is taken once: run `gatehouse login PROFILE` again',
  bad_token: 'run `gatehouse login PROFILE` again',
};

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(
          new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_request', [`the body exceeds ${MAX_BODY} bytes`]),
        );
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

interface LoginBody {
  readonly idToken: string;
  readonly csr: string;
  readonly deviceGrant: boolean;
}

function parseBody(text: string): LoginBody {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_request', ['the body is not JSON']);
  }
  if (typeof o?.idToken !== 'string' || typeof o.csr !== 'string')
    throw new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_request', ['it needs idToken and csr (strings)']);
  if (o.grant !== 'code' && o.grant !== 'device')
    throw new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_request', ['grant must be "code" or "device"']);
  return { idToken: o.idToken, csr: o.csr, deviceGrant: o.grant === 'device' };
}

/** The request's public key, once its self-signature proves the client holds the private key. */
async function requestKey(pem: string): Promise<{ key: DomCryptoKey; spki: Uint8Array }> {
  const bad = (why: string) => new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_csr', [why]);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw bad('csr is not a PEM certificate signing request');
  }
  if (!(await csr.verify().catch(() => false))) throw bad('the signing request is not signed by its own key');
  const key = (await csr.publicKey.export()) as DomCryptoKey;
  const alg = key.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  const ok =
    (alg.name === 'ECDSA' && (alg.namedCurve === 'P-256' || alg.namedCurve === 'P-384')) ||
    (alg.name.startsWith('RSA') && (alg.modulusLength ?? 0) >= 2048);
  if (!ok) throw bad('the key must be EC P-256, EC P-384 or RSA of at least 2048 bits');
  return { key, spki: new Uint8Array(csr.publicKey.rawData) };
}

export async function handleLogin(
  ctx: FaceContext,
  spec: EndpointSpec,
  listener: string,
  state: LoginState,
  peer: Peer,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const record: Partial<AuditEventInput> = {};
  const audit = (fields: Partial<AuditEventInput>) =>
    ctx.audit.emit({ event: 'login', ...peerFields(spec, listener, peer), ...record, ...fields });
  try {
    const login = spec.config.login;
    if (!login) throw new LoginRefusal('GH_ERR_LOGIN_UNAVAILABLE', 'no_login', [spec.name]);
    if (req.method !== 'POST')
      throw new LoginRefusal('GH_ERR_LOGIN_BAD_REQUEST', 'bad_request', [`use POST, not ${req.method}`]);
    const body = parseBody(await readBody(req));
    const reply = await login_(ctx, spec, state, login, body, record);
    audit({
      allowed: true,
      reason: 'login',
      status: 'succeeded',
      // As every connection-log line writes serials (normaliseSerial of trust.ts): the login and
      // the sessions of its certificate correlate. (The reply's is OpenSSL's, the file's name.)
      serial: normaliseSerial(reply.serial),
      notAfter: reply.notAfter,
      groups: reply.groups,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(reply));
  } catch (err) {
    const reason = err instanceof LoginRefusal ? err.reason : undefined;
    const wire = toWire(err, reason);
    if (!(err instanceof GatehouseError))
      ctx.log.error({ err, endpoint: spec.name }, 'login failed with an unexpected error');
    audit({ allowed: false, reason: wire.reason, status: 'failed', error: wire.message });
    if (res.headersSent) return;
    res.writeHead(wire.status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      [REASON_HEADER]: wire.reason,
    });
    res.end(JSON.stringify({ code: wire.code, reason: wire.reason, message: wire.message, hint: wire.hint }));
  }
}

async function login_(
  ctx: FaceContext,
  spec: EndpointSpec,
  state: LoginState,
  login: AccessLoginConfig,
  body: LoginBody,
  record: Partial<AuditEventInput>,
): Promise<LoginResponse> {
  const { oidc } = login;
  const pkiDir = state.pkiDir();
  if (!pkiDir) throw new LoginRefusal('GH_ERR_LOGIN_CA', 'login_ca', ['the PKI is not loaded']);
  const { key, spki } = await requestKey(body.csr);
  const check = await checkIdToken(body.idToken, {
    issuer: oidc.issuer,
    clientId: oidc.clientId,
    keys: () => state.providerKeys(oidc.issuer).keySet(),
    nonce: loginNonce(spki),
    deviceGrant: body.deviceGrant,
  });
  if (!check.ok) {
    if (check.reason === 'provider_unreachable')
      throw new LoginRefusal('GH_ERR_LOGIN_PROVIDER', 'provider_unreachable', [oidc.issuer, check.detail]);
    throw new LoginRefusal('GH_ERR_LOGIN_REFUSED', check.reason, [check.detail], HINTS[check.reason]);
  }
  const claims = check.claims;
  const named = claims[oidc.usernameClaim];
  const user = typeof named === 'string' && named !== '' ? named : claims.sub!;
  Object.assign(record, { identity: user, subject: claims.sub });
  if (!state.usedTokens(pkiDir).claim({ jti: claims.jti, raw: body.idToken, exp: claims.exp! }))
    throw new LoginRefusal(
      'GH_ERR_LOGIN_REFUSED',
      'replayed',
      ['this ID token was already used'],
      HINTS.replayed,
    );
  const decision = decideLoginGroups(claims[oidc.groupsClaim], oidc.allowedGroups);
  if (!decision.allowed) {
    Object.assign(record, { groups: decision.claimed });
    throw new LoginRefusal(
      'GH_ERR_LOGIN_REFUSED',
      decision.reason,
      [
        `${user} is in none of the groups this endpoint allows (${oidc.groupsClaim}: ${decision.claimed.join(', ') || 'none'})`,
      ],
      `ask an administrator of the identity provider to add you to one of: ${oidc.allowedGroups.join(', ')}`,
    );
  }
  if (!hasLoginCa(pkiDir)) {
    try {
      const built = await buildLoginCa(pkiDir);
      ctx.log.info({ dir: built.dir, serial: built.serial }, 'created the login CA on first login');
      state.loginCaCreated();
    } catch (err) {
      // Another worker may have made it meanwhile; otherwise the root key is offline or encrypted.
      if (!hasLoginCa(pkiDir))
        throw new LoginRefusal('GH_ERR_LOGIN_CA', 'login_ca', [
          `there is no login CA and it cannot be made here: ${err instanceof Error ? err.message : String(err)}`,
        ]);
    }
  }
  let issued;
  try {
    issued = await issueLoginCertificate(pkiDir, {
      publicKey: key,
      commonName: user,
      groups: decision.groups,
      ttlMs: login.certificateTtl,
    });
  } catch (err) {
    ctx.log.error({ err, endpoint: spec.name }, 'the login CA could not sign');
    throw new LoginRefusal('GH_ERR_LOGIN_CA', 'login_ca', [err instanceof Error ? err.message : String(err)]);
  }
  const cn = loginCommonName(user);
  Object.assign(record, { commonName: cn, groups: decision.groups });
  return {
    endpoint: spec.name,
    commonName: cn,
    groups: decision.groups,
    targets: targetsForGroups(spec.authz, decision.groups),
    serial: issued.serial,
    notAfter: issued.notAfter.toISOString(),
    certificate: issued.chainPem,
  };
}

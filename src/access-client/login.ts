// `gatehouse login` as a library: make a key pair here (the private key never leaves this
// machine), get an ID token bound to it from the provider (oidc-flow.ts), send the token and a
// signing request to the endpoint's POST /gatehouse/login over its TLS (verified against the
// profile's CA; no client certificate needed), and return the profile with the certificate and
// key filled in. Nothing here parses argv or writes the file: src/cli/login.ts does.
import https from 'node:https';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../errors.js';
import { parseIp } from '../net/cidr.js';
import { parseHostPort } from '../net/address.js';
import { loginNonce } from '../pki/index.js';
import { generateKey, privateKeyPem, webSigner } from '../pki/keys.js';
import { x509 } from '../pki/x509.js';
import { getIdToken, type IdTokenResult } from './oidc-flow.js';
import type { ClientProfile } from './profile.js';

/** The login endpoint's path on the tunnel listener (faces/access/login.ts serves it). */
export const LOGIN_PATH = '/gatehouse/login';
const ANSWER_TIMEOUT_MS = 30_000;

export interface LoginOptions {
  readonly device: boolean;
  readonly openBrowser: boolean;
  readonly say: (line: string) => void;
  readonly timeoutMs?: number;
  /** The profile's file, named in messages. */
  readonly file: string;
}

export interface LoginResult {
  readonly profile: ClientProfile;
  readonly serial: string;
  readonly notAfter: Date;
}

interface LoginAnswer {
  readonly commonName: string;
  readonly groups: readonly string[];
  readonly targets: readonly string[];
  readonly serial: string;
  readonly notAfter: string;
  readonly certificate: string;
}

/** An error the endpoint answered with: its code, message and hint, as it sent them. */
class EndpointError extends GatehouseError {
  constructor(code: ErrorCode, message: string, hint: string) {
    super(code, [], { hint });
    this.message = message;
  }
}

export async function login(profile: ClientProfile, opts: LoginOptions): Promise<LoginResult> {
  const settings = profile.login;
  if (!settings)
    throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [opts.file, 'has no login settings'], {
      hint: 'write a login profile with `gatehouse client-config ENDPOINT -o FILE` (without --client) from a config whose endpoint has `login`',
    });
  const keys = await generateKey('ec-p256');
  const signer = await webSigner(keys.privateKey);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=gatehouse-login',
    keys: { privateKey: signer.privateKey, publicKey: signer.publicKey },
    signingAlgorithm: signer.signingAlgorithm,
  });
  const nonce = loginNonce(new Uint8Array(csr.publicKey.rawData));
  const token = await getIdToken(settings, {
    device: opts.device,
    openBrowser: opts.openBrowser,
    nonce,
    say: opts.say,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
  const answer = await askEndpoint(profile, token, csr.toString('pem'));
  return {
    profile: {
      ...profile,
      commonName: answer.commonName,
      groups: answer.groups,
      targets: answer.targets,
      cert: answer.certificate,
      key: privateKeyPem(keys.privateKey),
    },
    serial: answer.serial,
    notAfter: new Date(answer.notAfter),
  };
}

function askEndpoint(profile: ClientProfile, token: IdTokenResult, csr: string): Promise<LoginAnswer> {
  const hp = parseHostPort(profile.address);
  if (typeof hp === 'string') throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [profile.address, hp]);
  const servername = profile.serverName ?? (parseIp(hp.host) ? undefined : hp.host);
  const body = JSON.stringify({ idToken: token.idToken, csr, grant: token.grant });
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: hp.host,
      port: hp.port,
      method: 'POST',
      path: LOGIN_PATH,
      ca: profile.ca,
      ...(servername ? { servername } : {}),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: ANSWER_TIMEOUT_MS,
      agent: false,
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)));
    req.once('error', (err) =>
      reject(
        isGatehouseError(err)
          ? err
          : new GatehouseError('GH_ERR_LOGIN_FLOW', [profile.address, `the endpoint: ${err.message}`], {
              cause: err,
            }),
      ),
    );
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (text.length < 256 * 1024) text += d;
      });
      res.once('end', () => {
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(text) as Record<string, unknown>;
        } catch {
          reject(
            new GatehouseError('GH_ERR_LOGIN_FLOW', [
              profile.address,
              `the endpoint answered ${res.statusCode} without JSON (is this a Gatehouse access endpoint with login?)`,
            ]),
          );
          return;
        }
        if (res.statusCode === 200) return resolve(o as unknown as LoginAnswer);
        const code =
          typeof o.code === 'string' && isGatehouseError({ code: o.code })
            ? (o.code as ErrorCode)
            : 'GH_ERR_LOGIN_REFUSED';
        reject(
          new EndpointError(code, String(o.message ?? `status ${res.statusCode}`), String(o.hint ?? '')),
        );
      });
    });
    req.end(body);
  });
}

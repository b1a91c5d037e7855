// The TLS material of the access endpoints: the PKI's CA and CRL (shared by every endpoint) and
// each endpoint's server certificate, built into one SecureContext per endpoint.
//
// A CRL is only taken after it parses and its signature verifies against the CA: OpenSSL checks
// the signature at handshake time, so a bad CRL handed to it would refuse every client. A refused
// CRL leaves the last good one in force. Each rebuild makes new SecureContexts, which also makes new
// session ticket keys, so a ticket issued before a revocation cannot resume afterwards.
//
// A PKI with a login CA (pki/login-ca/, the intermediate that signs OpenID Connect logins) adds it
// to the trusted CAs and its own CRL to the CRLs. Node's TLS checks CRLs for every certificate of
// a chain once any CRL is given (X509_V_FLAG_CRL_CHECK_ALL): with a root CRL, the login CRL must be
// given too; without a root CRL none is given, and the serial check of identity.ts holds the
// login CRL alone.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { GatehouseError } from '../../errors.js';
import { loadCaCertificatePem, loadCredentials, loginCaDir } from '../../pki/index.js';
import { parseCrl } from '../../pki/crl.js';
import { x509 } from '../../pki/x509.js';

export interface CrlInfo {
  readonly pem: string;
  /** Revoked serials, normalised (see normaliseSerial). */
  readonly revoked: ReadonlySet<string>;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
}

/** The login CA: its certificate (checked to be the root's) and its CRL. */
export interface LoginCaTrust {
  readonly pem: string;
  /** Its subject as Node prints it: the `issuer` of the certificates it signed. */
  readonly subject: string;
  readonly crl: CrlInfo | undefined;
}

export interface Trust {
  readonly pkiDir: string;
  readonly caPem: string;
  readonly ca: X509Certificate;
  readonly crl: CrlInfo | undefined;
  readonly loginCa?: LoginCaTrust | undefined;
}

export function loginCrlPath(pkiDir: string): string {
  return path.join(loginCaDir(pkiDir), 'crl.pem');
}

function readIfThere(file: string, what: 'GH_ERR_ACCESS_CRL' | 'GH_ERR_LOGIN_CA'): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatehouseError(
      what,
      what === 'GH_ERR_ACCESS_CRL' ? [file, 'it cannot be read'] : [`${file} cannot be read`],
      {
        cause: err,
      },
    );
  }
}

/**
 * The login CA of a PKI, if it has one; `previous` is reused when nothing changed on disk. Throws
 * (GH_ERR_LOGIN_CA, GH_ERR_ACCESS_CRL) when its certificate is not the root's or its CRL is bad.
 */
async function loadLoginCa(
  pkiDir: string,
  ca: X509Certificate,
  previous: LoginCaTrust | undefined,
): Promise<LoginCaTrust | undefined> {
  const crt = path.join(loginCaDir(pkiDir), 'ca.crt');
  const pem = readIfThere(crt, 'GH_ERR_LOGIN_CA');
  if (pem === undefined) return undefined;
  const crlFile = loginCrlPath(pkiDir);
  const crlPem = readIfThere(crlFile, 'GH_ERR_ACCESS_CRL');
  if (previous && previous.pem === pem && previous.crl?.pem === crlPem) return previous;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_LOGIN_CA', [`${crt} is not a PEM certificate`], { cause: err });
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !cert.ca)
    throw new GatehouseError('GH_ERR_LOGIN_CA', [`${crt} is not a CA certificate signed by the PKI's CA`]);
  const crl =
    crlPem === undefined
      ? undefined
      : previous?.pem === pem && previous.crl?.pem === crlPem
        ? previous.crl
        : await checkCrl(crlPem, pem, crlFile);
  return { pem, subject: cert.subject, crl };
}

/** Upper-case hex without leading zeros: Node, OpenSSL and @peculiar write serials differently. */
export function normaliseSerial(serial: string): string {
  return serial
    .replace(/[^0-9a-f]/gi, '')
    .toUpperCase()
    .replace(/^0+(?=.)/, '');
}

export function crlPath(pkiDir: string): string {
  return path.join(pkiDir, 'crl.pem');
}

/** Parse and verify a CRL against the CA; throws GH_ERR_ACCESS_CRL with the reason. */
export async function checkCrl(pem: string, caPem: string, file: string): Promise<CrlInfo> {
  let crl: x509.X509Crl;
  try {
    crl = parseCrl(pem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it is not a PEM CRL'], { cause: err });
  }
  const ca = new x509.X509Certificate(caPem);
  let ok = false;
  try {
    ok = await crl.verify({ publicKey: ca });
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'its signature cannot be checked'], { cause: err });
  }
  if (!ok) throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it is not signed by the PKI CA']);
  // Node's TLS stack parses it too: refuse here what it would refuse at handshake time.
  try {
    tls.createSecureContext({ ca: caPem, crl: [pem] });
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'the TLS stack cannot load it'], { cause: err });
  }
  return {
    pem,
    revoked: new Set(crl.entries.map((e) => normaliseSerial(e.serialNumber))),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
  };
}

/** Read ca.crt and crl.pem (when there is one) of a PKI. */
export async function loadTrust(pkiDir: string, onLoginCaProblem?: (err: unknown) => void): Promise<Trust> {
  const caPem = loadCaCertificatePem(pkiDir);
  const file = crlPath(pkiDir);
  let pem: string | undefined;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it cannot be read'], { cause: err });
  }
  const crl = pem === undefined ? undefined : await checkCrl(pem, caPem, file);
  const ca = new X509Certificate(caPem);
  let loginCa: LoginCaTrust | undefined;
  try {
    loginCa = await loadLoginCa(pkiDir, ca, undefined);
  } catch (err) {
    // A bad login CA refuses login certificates, not every client.
    onLoginCaProblem?.(err);
  }
  return { pkiDir, caPem, ca, crl, loginCa };
}

/** A new Trust with the CRL file re-read; throws (and the caller keeps the old one) when it is bad. */
export async function reloadCrl(trust: Trust): Promise<Trust> {
  const file = crlPath(trust.pkiDir);
  // A PKI that never had a CRL may still see its login CA change; a CRL that was there must stay.
  const pem = readIfThere(file, 'GH_ERR_ACCESS_CRL');
  if (pem === undefined && trust.crl)
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it cannot be read']);
  const loginCa = await loadLoginCa(trust.pkiDir, trust.ca, trust.loginCa);
  if (pem === trust.crl?.pem && loginCa === trust.loginCa) return trust;
  const crl =
    pem === undefined
      ? undefined
      : pem === trust.crl?.pem
        ? trust.crl
        : await checkCrl(pem, trust.caPem, file);
  return { ...trust, crl, loginCa };
}

/** Every revoked serial in force: the root CRL's and the login CA's. */
export function revokedSerials(trust: Trust): Set<string> {
  return new Set([...(trust.crl?.revoked ?? []), ...(trust.loginCa?.crl?.revoked ?? [])]);
}

export interface ServerCredentials {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

export function loadServerCredentials(pkiDir: string, name: string): ServerCredentials {
  return { name, ...loadCredentials(pkiDir, name) };
}

/** One endpoint's TLS options: its server certificate, clients verified against CA and CRL. */
export function tlsOptionsFor(cred: ServerCredentials, trust: Trust): tls.SecureContextOptions {
  const login = trust.loginCa;
  // One PEM per CA level, as an array: the root's, then the login CA's when there is one.
  const crl = trust.crl ? [trust.crl.pem, ...(login?.crl ? [login.crl.pem] : [])] : undefined;
  return {
    cert: cred.cert,
    key: cred.key,
    ca: login ? [trust.caPem, login.pem] : trust.caPem,
    ...(crl ? { crl } : {}),
    minVersion: 'TLSv1.2',
  };
}

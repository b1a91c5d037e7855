// The login CA: an intermediate CA under the PKI's own CA that signs only the short-lived
// certificates of OpenID Connect logins. It lives in pki/login-ca/, itself an easy-rsa 3 layout
// (ca.crt, private/ca.key 0600, index.txt, serial, crl.pem, issued/SERIAL.crt), so the usual verbs
// work on it: `gatehouse pki --pki pki/login-ca list | revoke SERIAL | gen-crl`. The daemon holds
// this key online to sign logins; the root key is needed once, to create it, and can then stay
// offline. The login CA itself is recorded in the root's index.txt as `login-ca`, so revoking it
// there (and publishing the root CRL) ends every login certificate at once.
import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatehouseError } from '../errors.js';
import {
  addDays,
  checkDays,
  DEFAULT_CERT_DAYS,
  DEFAULT_CRL_DAYS,
  loadCaSigner,
  nowSeconds,
} from './authority.js';
import { INDEX_ATTR, findBySerial, readIndexStrict, writeIndex, writeSerialAfter } from './ca-index-store.js';
import { formatOpensslTime, normaliseSerial } from './ca-index-format.js';
import {
  authorityKeyIdFromCa,
  certificatePem,
  createLeafCertificate,
  randomSerial,
  subjectFor,
} from './certs.js';
import { parseCrl } from './crl.js';
import { isValidGroupName } from './identity.js';
import { DEFAULT_KEY_TYPE, generateKey, privateKeyPem, webSigner, type KeyType } from './keys.js';
import { ensureOpensslCnf } from './openssl-cnf.js';
import { genCrl } from './revocation.js';
import {
  assertCa,
  caDirs,
  createFileAtomic,
  ensureDir,
  pkiLayout,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  PUBLIC_DIR_MODE,
  PUBLIC_FILE_MODE,
  readTextIfExists,
  withLock,
  writeFileAtomic,
  type PkiLayout,
} from './store.js';
import { x509, type DomCryptoKey } from './x509.js';

/** The login CA's directory inside a PKI, and its name in the root's index. */
export const LOGIN_CA_NAME = 'login-ca';
export const LOGIN_CA_CN = 'Gatehouse login CA';

export function loginCaDir(pkiDir: string): string {
  return path.join(path.resolve(pkiDir), LOGIN_CA_NAME);
}

/** Whether the PKI has a login CA (its certificate and key are in place). */
export function hasLoginCa(pkiDir: string): boolean {
  const l = pkiLayout(loginCaDir(pkiDir));
  return fs.existsSync(l.caCrt) && fs.existsSync(l.caKey);
}

export interface BuildLoginCaOptions {
  readonly days?: number;
  readonly keyType?: KeyType;
  /** Passphrase of the root key (private/ca.key), when it is encrypted. */
  readonly passin?: string;
}

export interface BuiltLoginCa {
  readonly dir: string;
  readonly serial: string;
  readonly certificate: X509Certificate;
}

/**
 * Create pki/login-ca/: a key (0600), a CA certificate signed by the root (path length 0: it signs
 * only end entities), an empty index and a first CRL signed by the new key.
 */
export async function buildLoginCa(pkiDir: string, opts: BuildLoginCaOptions = {}): Promise<BuiltLoginCa> {
  const root = pkiLayout(pkiDir);
  assertCa(root);
  const days = checkDays(opts.days ?? DEFAULT_CERT_DAYS);
  const sub = pkiLayout(loginCaDir(pkiDir));
  const built = await withLock(root, async () => {
    if (fs.existsSync(sub.caCrt) || fs.existsSync(sub.caKey))
      throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a login CA', sub.root], {
        hint: 'it is already there; to replace it, revoke it (`gatehouse pki revoke login-ca`) and remove the directory',
      });
    if (fs.existsSync(root.issued(LOGIN_CA_NAME)))
      throw new GatehouseError('GH_ERR_PKI_EXISTS', [
        'a certificate named login-ca',
        root.issued(LOGIN_CA_NAME),
      ]);
    const ca = await loadCaSigner(root, opts.passin);
    const keys = await generateKey(opts.keyType ?? DEFAULT_KEY_TYPE);
    const signer = await webSigner(keys.privateKey);
    const entries = readIndexStrict(root);
    let serial = randomSerial();
    while (findBySerial(entries, serial) >= 0) serial = randomSerial();
    const notBefore = nowSeconds();
    // Never past the root: a chain is only as long-lived as its shortest link.
    const wanted = addDays(notBefore, days);
    const notAfter = wanted < ca.cert.notAfter ? wanted : ca.cert.notAfter;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: subjectFor(LOGIN_CA_CN),
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: signer.publicKey,
      signingKey: ca.signer.privateKey,
      signingAlgorithm: ca.signer.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        await x509.SubjectKeyIdentifierExtension.create(signer.publicKey),
        await authorityKeyIdFromCa(ca.cert),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    });
    const pem = certificatePem(cert);
    // Not initPki: the directory may exist already (the daemon's used-token record lives in it).
    ensureDir(sub.root, PUBLIC_DIR_MODE);
    ensureDir(sub.privateDir, PRIVATE_DIR_MODE);
    ensureDir(sub.reqsDir, PUBLIC_DIR_MODE);
    ensureOpensslCnf(sub.root);
    for (const [d, mode] of caDirs(sub)) ensureDir(d, mode);
    writeFileAtomic(sub.index, '', PUBLIC_FILE_MODE);
    writeFileAtomic(sub.indexAttr, INDEX_ATTR, PUBLIC_FILE_MODE);
    writeFileAtomic(sub.serial, '01\n', PUBLIC_FILE_MODE);
    createFileAtomic(sub.caKey, privateKeyPem(keys.privateKey), PRIVATE_FILE_MODE, 'the login CA key');
    createFileAtomic(sub.caCrt, pem, PUBLIC_FILE_MODE, 'the login CA certificate');
    // In the root's database too: `gatehouse pki list` shows it, `revoke login-ca` ends it.
    for (const [d, mode] of caDirs(root)) ensureDir(d, mode);
    writeFileAtomic(root.certBySerial(serial), pem, PUBLIC_FILE_MODE);
    createFileAtomic(root.issued(LOGIN_CA_NAME), pem, PUBLIC_FILE_MODE, 'a certificate');
    writeSerialAfter(root, serial);
    entries.push({
      status: 'V',
      expiry: formatOpensslTime(notAfter),
      revocation: '',
      serial,
      filename: 'unknown',
      subject: `/CN=${LOGIN_CA_CN}`,
    });
    writeIndex(root, entries);
    return { dir: sub.root, serial, certificate: new X509Certificate(pem) };
  });
  await genCrl(sub.root);
  return built;
}

export interface LoginCertificateRequest {
  /** The client's public key, from its signing request. */
  readonly publicKey: DomCryptoKey;
  readonly commonName: string;
  readonly groups: readonly string[];
  readonly ttlMs: number;
}

export interface LoginCertificate {
  /** As OpenSSL prints it (whole bytes): also its name in the login CA (issued/SERIAL.crt). */
  readonly serial: string;
  /** The certificate, then the login CA's: what a client presents. */
  readonly chainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * The nonce a client asks its provider for when it will have this key certified:
 * base64url(SHA-256(DER SubjectPublicKeyInfo)). The login endpoint signs a key only with an ID
 * token carrying that key's nonce, so a token that leaks is no use with any other key.
 */
export function loginNonce(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('base64url');
}

/** Clocks differ a little between hosts: a fresh certificate is valid from a minute ago. */
export const LOGIN_BACKDATE_MS = 60_000;

/**
 * A CN index.txt and every tool can carry: letters, digits and `._@-`, at most 64 (`/` separates
 * and `+` joins attributes in OpenSSL's one-line names).
 */
export function loginCommonName(user: string): string {
  const cn = user.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 64);
  return cn === '' ? 'login' : cn;
}

/**
 * Sign a login certificate: a client certificate for `publicKey` with the groups as SAN URIs,
 * valid from a minute ago for `ttlMs` (never past the login CA), recorded in the login CA's
 * index.txt and issued/SERIAL.crt. Processes share the PKI's lock file: a login meeting another
 * one's lock waits for it (up to about two seconds).
 */
export async function issueLoginCertificate(
  pkiDir: string,
  req: LoginCertificateRequest,
): Promise<LoginCertificate> {
  const sub = pkiLayout(loginCaDir(pkiDir));
  assertCa(sub);
  for (const g of req.groups)
    if (!isValidGroupName(g)) throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad group name "${g}"`]);
  const commonName = loginCommonName(req.commonName);
  const issued = await withLockWaiting(sub, async () => {
    const ca = await loadCaSigner(sub);
    const entries = readIndexStrict(sub);
    let serial = randomSerial();
    // Named by the serial as OpenSSL prints it (`openssl x509 -serial`, `gatehouse pki list`): the
    // NAME `gatehouse pki --pki pki/login-ca revoke` takes.
    while (findBySerial(entries, serial) >= 0 || fs.existsSync(sub.issued(normaliseSerial(serial))))
      serial = randomSerial();
    const now = nowSeconds();
    const notBefore = new Date(now.getTime() - LOGIN_BACKDATE_MS);
    const wanted = new Date(now.getTime() + req.ttlMs);
    const notAfter = wanted < ca.cert.notAfter ? wanted : ca.cert.notAfter;
    const cert = await createLeafCertificate({
      profile: 'client',
      subject: subjectFor(commonName),
      serial,
      notBefore,
      notAfter,
      publicKey: req.publicKey,
      sans: [],
      groups: req.groups,
      ca: ca.cert,
      caSigner: ca.signer,
    });
    const pem = certificatePem(cert);
    writeFileAtomic(sub.certBySerial(serial), pem, PUBLIC_FILE_MODE);
    createFileAtomic(sub.issued(normaliseSerial(serial)), pem, PUBLIC_FILE_MODE, 'a certificate');
    writeSerialAfter(sub, serial);
    entries.push({
      status: 'V',
      expiry: formatOpensslTime(notAfter),
      revocation: '',
      serial,
      filename: 'unknown',
      subject: `/CN=${commonName}`,
    });
    writeIndex(sub, entries);
    return { serial: normaliseSerial(serial), chainPem: pem + certificatePem(ca.cert), notBefore, notAfter };
  });
  await refreshLoginCrl(sub);
  return issued;
}

/**
 * The login CRL is signed with a key the daemon holds, so it is renewed here rather than left to
 * an operator: once it is past half its life, logins write a new one (its revoked entries are
 * the index's, unchanged). A CRL past nextUpdate would refuse every login certificate.
 */
async function refreshLoginCrl(sub: PkiLayout): Promise<void> {
  const text = readTextIfExists(sub.crl);
  if (text !== undefined) {
    try {
      const crl = parseCrl(text);
      const life = (crl.nextUpdate?.getTime() ?? 0) - crl.thisUpdate.getTime();
      if (crl.nextUpdate && crl.nextUpdate.getTime() - Date.now() > life / 2) return;
    } catch {
      // unreadable: write a good one
    }
  }
  await withLockWaiting(sub, async () => undefined); // let a concurrent login finish first
  await genCrl(sub.root, { days: DEFAULT_CRL_DAYS }).catch(() => undefined);
}

async function withLockWaiting<T>(l: PkiLayout, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await withLock(l, fn);
    } catch (err) {
      if ((err as GatehouseError).code !== 'GH_ERR_PKI_LOCKED' || attempt >= 100) throw err;
      // Another process (a worker, a CLI verb) holds the lock for a few milliseconds.
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

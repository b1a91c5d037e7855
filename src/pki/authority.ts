// The signing verbs: init-pki, build-ca, build-server-full / build-client-full.
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import {
  certificatePem,
  createCaCertificate,
  createLeafCertificate,
  createRequest,
  defaultServerSan,
  type LeafProfile,
  randomSerial,
  requestPem,
  type SanEntry,
} from './certs.js';
import { findBySerial, INDEX_ATTR, readIndexStrict, writeIndex, writeSerialAfter } from './ca-index-store.js';
import { isValidGroupName } from './identity.js';
import { formatOpensslTime } from './ca-index-format.js';
import {
  DEFAULT_KEY_TYPE,
  generateKey,
  type KeyType,
  loadPrivateKey,
  privateKeyPem,
  webSigner,
  type WebSigner,
} from './keys.js';
import { checkNewName } from './names.js';
import { ensureOpensslCnf } from './openssl-cnf.js';
import {
  assertCa,
  assertInitialised,
  caDirs,
  createFileAtomic,
  ensureDir,
  type PkiLayout,
  pkiLayout,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  PUBLIC_DIR_MODE,
  PUBLIC_FILE_MODE,
  readText,
  withLock,
  writeFileAtomic,
} from './store.js';
import { x509 } from './x509.js';

/** easy-rsa's defaults (vars: EASYRSA_CA_EXPIRE, EASYRSA_CERT_EXPIRE, EASYRSA_CRL_DAYS). */
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 825;
export const DEFAULT_CRL_DAYS = 180;
export const DEFAULT_CA_CN = 'Gatehouse CA';

export type Progress = (message: string) => void;

export interface InitOptions {
  /** Wipe an existing, non-empty directory first (easy-rsa's init-pki does so after a prompt). */
  readonly force?: boolean;
}

export function initPki(dir: string, opts: InitOptions = {}): PkiLayout {
  const l = pkiLayout(dir);
  if (fs.existsSync(l.root) && fs.readdirSync(l.root).length > 0) {
    if (!opts.force) {
      throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a non-empty directory', l.root], {
        hint: 'pick another --pki DIR, or pass --force to delete everything in it (the CA key too)',
      });
    }
    fs.rmSync(l.root, { recursive: true, force: true });
  }
  ensureDir(l.root, PUBLIC_DIR_MODE);
  ensureDir(l.privateDir, PRIVATE_DIR_MODE);
  ensureDir(l.reqsDir, PUBLIC_DIR_MODE);
  ensureOpensslCnf(l.root);
  return l;
}

export interface BuildCaOptions {
  readonly commonName?: string;
  readonly days?: number;
  readonly keyType?: KeyType;
  /** Encrypt private/ca.key with this passphrase. */
  readonly passout?: string;
  readonly onProgress?: Progress;
}

export async function buildCa(dir: string, opts: BuildCaOptions = {}): Promise<X509Certificate> {
  const l = pkiLayout(dir);
  assertInitialised(l);
  const commonName = opts.commonName ?? DEFAULT_CA_CN;
  if (commonName.trim() === '' || commonName.length > 64 || /[\0\n]/.test(commonName)) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad CA common name "${commonName}"`]);
  }
  const days = checkDays(opts.days ?? DEFAULT_CA_DAYS);
  return withLock(l, async () => {
    for (const f of [l.caCrt, l.caKey]) {
      if (fs.existsSync(f)) {
        throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a CA', f], {
          hint: 'this PKI already has a CA; to start over, run init-pki --force (it deletes the CA)',
        });
      }
    }
    const keyType = opts.keyType ?? DEFAULT_KEY_TYPE;
    const keys = await keygen(keyType, opts.onProgress);
    const signer = await webSigner(keys.privateKey);
    const notBefore = nowSeconds();
    const cert = await createCaCertificate({
      commonName,
      serial: randomSerial(),
      notBefore,
      notAfter: addDays(notBefore, days),
      signer,
    });
    for (const [d, mode] of caDirs(l)) ensureDir(d, mode);
    ensureOpensslCnf(l.root);
    if (!fs.existsSync(l.index)) writeFileAtomic(l.index, '', PUBLIC_FILE_MODE);
    writeFileAtomic(l.indexAttr, INDEX_ATTR, PUBLIC_FILE_MODE);
    if (!fs.existsSync(l.serial)) writeFileAtomic(l.serial, '01\n', PUBLIC_FILE_MODE);
    createFileAtomic(l.caKey, privateKeyPem(keys.privateKey, opts.passout), PRIVATE_FILE_MODE, 'the CA key');
    createFileAtomic(l.caCrt, certificatePem(cert), PUBLIC_FILE_MODE, 'the CA certificate');
    return new X509Certificate(Buffer.from(cert.rawData));
  });
}

export interface BuildFullOptions {
  readonly days?: number;
  readonly keyType?: KeyType;
  /** DNS:/IP: entries; a server without any gets DNS:NAME (IP:NAME for an address), as easy-rsa 3.1. */
  readonly sans?: readonly SanEntry[];
  /** Client groups, stored as SAN URIs urn:gatehouse:group:NAME (see identity.ts). */
  readonly groups?: readonly string[];
  /** Passphrase of private/ca.key, when it is encrypted. */
  readonly passin?: string;
  /** Encrypt the new private key with this passphrase. */
  readonly passout?: string;
  readonly onProgress?: Progress;
}

export interface IssuedCertificate {
  readonly name: string;
  readonly serial: string;
  readonly certificate: X509Certificate;
  readonly files: { readonly cert: string; readonly key: string; readonly req: string };
}

export async function buildFull(
  dir: string,
  profile: LeafProfile,
  name: string,
  opts: BuildFullOptions = {},
): Promise<IssuedCertificate> {
  const l = pkiLayout(dir);
  checkNewName(name);
  assertCa(l);
  const days = checkDays(opts.days ?? DEFAULT_CERT_DAYS);
  const groups = [...new Set(opts.groups ?? [])];
  for (const g of groups) {
    if (!isValidGroupName(g)) {
      throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad group name "${g}"`], {
        hint: 'use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      });
    }
  }
  if (profile === 'server' && groups.length > 0) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['--group is for client certificates'], {
      hint: 'use build-client-full NAME --group G',
    });
  }
  const sans = [...(opts.sans ?? [])];
  if (profile === 'server' && sans.length === 0) sans.push(defaultServerSan(name));
  return withLock(l, async () => {
    for (const [f, what] of [
      [l.issued(name), 'a certificate'],
      [l.key(name), 'a private key'],
      [l.req(name), 'a request'],
    ] as const) {
      if (fs.existsSync(f)) throw new GatehouseError('GH_ERR_PKI_EXISTS', [what, f]);
    }
    const ca = await loadCaSigner(l, opts.passin);
    const entries = readIndexStrict(l);
    const keys = await keygen(opts.keyType ?? DEFAULT_KEY_TYPE, opts.onProgress);
    const leaf = await webSigner(keys.privateKey);
    let serial = randomSerial();
    while (findBySerial(entries, serial) >= 0 || fs.existsSync(l.certBySerial(serial)))
      serial = randomSerial();
    const notBefore = nowSeconds();
    const notAfter = addDays(notBefore, days);
    const cert = await createLeafCertificate({
      profile,
      commonName: name,
      serial,
      notBefore,
      notAfter,
      publicKey: leaf.publicKey,
      sans,
      groups,
      ca: ca.cert,
      caSigner: ca.signer,
    });
    const req = await createRequest({ commonName: name, signer: leaf, sans, groups });
    const pem = certificatePem(cert);
    // Key, request and certificate first; the index line last: it is what makes the certificate
    // count (list, revoke, CRL), so an interrupted run leaves files that block the name, not a ghost.
    createFileAtomic(
      l.key(name),
      privateKeyPem(keys.privateKey, opts.passout),
      PRIVATE_FILE_MODE,
      'a private key',
    );
    createFileAtomic(l.req(name), requestPem(req), PUBLIC_FILE_MODE, 'a request');
    writeFileAtomic(l.certBySerial(serial), pem, PUBLIC_FILE_MODE);
    createFileAtomic(l.issued(name), pem, PUBLIC_FILE_MODE, 'a certificate');
    writeSerialAfter(l, serial);
    entries.push({
      status: 'V',
      expiry: formatOpensslTime(notAfter),
      revocation: '',
      serial,
      filename: 'unknown',
      subject: `/CN=${name}`,
    });
    writeIndex(l, entries);
    return {
      name,
      serial,
      certificate: new X509Certificate(Buffer.from(cert.rawData)),
      files: { cert: l.issued(name), key: l.key(name), req: l.req(name) },
    };
  });
}

export interface CaSigner {
  readonly cert: x509.X509Certificate;
  readonly signer: WebSigner;
}

/** The CA certificate and its key, ready to sign (the key decrypted with `passin` if needed). */
export async function loadCaSigner(l: PkiLayout, passin?: string): Promise<CaSigner> {
  const certPem = readText(l.caCrt);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${l.caCrt} is not a PEM certificate`], { cause: err });
  }
  const key = loadPrivateKey(readText(l.caKey), `CA key ${l.caKey}`, passin);
  const nodeCert = new X509Certificate(Buffer.from(cert.rawData));
  if (!nodeCert.checkPrivateKey(key)) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${l.caKey} does not belong to ${l.caCrt}`]);
  }
  return { cert, signer: await webSigner(key) };
}

async function keygen(type: KeyType, onProgress?: Progress) {
  const slow = type.startsWith('rsa');
  if (slow) onProgress?.(`generating ${type.toUpperCase()} key…`);
  const timer = slow && onProgress ? setInterval(() => onProgress('still generating…'), 2000) : undefined;
  try {
    return await generateKey(type);
  } finally {
    if (timer) clearInterval(timer);
  }
}

export function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad --days "${days}"`], {
      hint: 'give a whole number of days between 1 and 36500',
    });
  }
  return days;
}

export function nowSeconds(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * 86_400_000);
}

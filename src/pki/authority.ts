// init-pki and build-ca, and what every signing verb needs: the CA's key and certificate, days.
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import * as path from 'node:path';
import { certificatePem, createCaCertificate, randomSerial, type SanEntry } from './certs.js';
import { INDEX_ATTR } from './ca-index-store.js';
import { type DnSettings, requestSubject } from './dn.js';
import { VARS_TEMPLATE } from './easyrsa-vars.js';
import {
  DEFAULT_KEY_TYPE,
  type Digest,
  generateKey,
  type KeyType,
  loadPrivateKey,
  privateKeyPem,
  webSigner,
  type WebSigner,
} from './keys.js';
import { ensureOpensslCnf } from './openssl-cnf.js';
import {
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
  /**
   * Wipe an existing, non-empty directory first (easy-rsa's init-pki does so after a prompt, or
   * at once with --batch): "hard" removes everything, "soft" (easy-rsa's soft-reset) keeps vars
   * and the files it does not list, but removes the CA, the database, keys, requests, certificates.
   */
  readonly force?: boolean | 'hard' | 'soft';
  /** Write PKI/vars (every setting commented out), as easy-rsa copies vars.example; default true. */
  readonly vars?: boolean;
}

/** What easy-rsa 3.1's `init-pki soft-reset` removes. */
const SOFT_RESET = [
  'ca.crt',
  'certs_by_serial',
  'ecparams',
  'index.txt',
  'index.txt.attr',
  'index.txt.old',
  'issued',
  'private',
  'reqs',
  'serial',
  'serial.old',
];

export function initPki(dir: string, opts: InitOptions = {}): PkiLayout {
  const l = pkiLayout(dir);
  if (fs.existsSync(l.root) && fs.readdirSync(l.root).length > 0) {
    if (!opts.force) {
      throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a non-empty directory', l.root], {
        hint: 'pick another --pki-dir DIR, or pass --force (or --batch, as easy-rsa) to delete everything in it, the CA key too',
      });
    }
    if (opts.force === 'soft') {
      for (const f of SOFT_RESET) fs.rmSync(path.join(l.root, f), { recursive: true, force: true });
    } else {
      fs.rmSync(l.root, { recursive: true, force: true });
    }
  }
  ensureDir(l.root, PUBLIC_DIR_MODE);
  ensureDir(l.privateDir, PRIVATE_DIR_MODE);
  ensureDir(l.reqsDir, PUBLIC_DIR_MODE);
  ensureOpensslCnf(l.root);
  const vars = path.join(l.root, 'vars');
  if (opts.vars !== false && !fs.existsSync(vars)) writeFileAtomic(vars, VARS_TEMPLATE, PUBLIC_FILE_MODE);
  return l;
}

export interface BuildCaOptions {
  readonly commonName?: string;
  /** easy-rsa's EASYRSA_DN and org fields; cn_only (CN alone) when absent. */
  readonly dn?: DnSettings;
  /** subjectAltName entries for the CA itself (easy-rsa's --san with build-ca). */
  readonly sans?: readonly SanEntry[];
  readonly digest?: Digest;
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
  const subject = requestSubject(commonName, opts.dn);
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
    const signer = await webSigner(keys.privateKey, opts.digest);
    const notBefore = nowSeconds();
    const cert = await createCaCertificate({
      subject,
      sans: opts.sans ?? [],
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

export interface CaSigner {
  readonly cert: x509.X509Certificate;
  readonly signer: WebSigner;
}

/** The CA certificate and its key, ready to sign (the key decrypted with `passin` if needed). */
export async function loadCaSigner(l: PkiLayout, passin?: string, digest?: Digest): Promise<CaSigner> {
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
  return { cert, signer: await webSigner(key, digest) };
}

export async function keygen(type: KeyType, onProgress?: Progress) {
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

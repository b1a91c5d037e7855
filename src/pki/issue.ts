// Requests and their signing, as easy-rsa 3.1 does them: gen-req (a key and reqs/NAME.req),
// import-req (someone else's request under a short name), sign-req TYPE NAME (`openssl ca` under
// easy-rsa's policy, with the x509-types/TYPE extensions) and build-*-full (the two in one step).
// Which subjectAltName a certificate gets follows sign_req: the --san entries if given; else, for
// server and serverClient, the request's own SAN or DNS:CN (IP:CN for an address); a client gets
// none (--copy-ext copies the request's).
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import {
  addDays,
  checkDays,
  DEFAULT_CERT_DAYS,
  keygen,
  loadCaSigner,
  nowSeconds,
  type Progress,
} from './authority.js';
import { formatOpensslTime } from './ca-index-format.js';
import { findBySerial, readIndexStrict, writeIndex, writeSerialAfter } from './ca-index-store.js';
import {
  certificatePem,
  createLeafCertificate,
  createRequest,
  defaultServerSan,
  type LeafProfile,
  randomSerial,
  requestPem,
  type SanEntry,
} from './certs.js';
import { commonNameOfName, type DnSettings, onelineName, policySubject, requestSubject } from './dn.js';
import { isValidGroupName } from './identity.js';
import { DEFAULT_KEY_TYPE, type Digest, type KeyType, privateKeyPem, webSigner } from './keys.js';
import { checkLookupName, checkNewName } from './names.js';
import {
  assertCa,
  assertInitialised,
  createFileAtomic,
  type PkiLayout,
  pkiLayout,
  PRIVATE_FILE_MODE,
  PUBLIC_FILE_MODE,
  readTextIfExists,
  withLock,
  writeFileAtomic,
} from './store.js';
import { x509 } from './x509.js';

const SAN_OID = '2.5.29.17';

export interface NewKeyOptions {
  readonly keyType?: KeyType;
  /** Encrypt the new private key with this passphrase. */
  readonly passout?: string;
  readonly onProgress?: Progress;
}

export interface GenReqOptions extends NewKeyOptions {
  /** The request's CN; NAME when absent (easy-rsa: --req-cn counts only with --batch). */
  readonly commonName?: string;
  readonly dn?: DnSettings;
  readonly sans?: readonly SanEntry[];
  /** Replace an existing key and request (easy-rsa asks first, or does so under --batch). */
  readonly overwrite?: boolean;
}

export interface GeneratedRequest {
  readonly key: string;
  readonly req: string;
}

export async function genReq(dir: string, name: string, opts: GenReqOptions = {}): Promise<GeneratedRequest> {
  const l = pkiLayout(dir);
  checkNewName(name);
  assertInitialised(l);
  return withLock(l, async () => {
    if (!opts.overwrite) {
      for (const [f, what] of [
        [l.key(name), 'a private key'],
        [l.req(name), 'a request'],
      ] as const) {
        if (fs.existsSync(f)) {
          throw new GatehouseError('GH_ERR_PKI_EXISTS', [what, f], {
            hint: 'pick another name; easy-rsa replaces the key only after a confirmation (or with --batch)',
          });
        }
      }
    }
    await writeKeyAndRequest(l, name, opts.commonName ?? name, opts, [], opts.overwrite === true);
    return { key: l.key(name), req: l.req(name) };
  });
}

async function writeKeyAndRequest(
  l: PkiLayout,
  name: string,
  commonName: string,
  opts: GenReqOptions,
  groups: readonly string[],
  replace: boolean,
): Promise<x509.Pkcs10CertificateRequest> {
  const subject = requestSubject(commonName, opts.dn);
  const keys = await keygen(opts.keyType ?? DEFAULT_KEY_TYPE, opts.onProgress);
  const signer = await webSigner(keys.privateKey);
  const req = await createRequest({ subject, signer, sans: opts.sans ?? [], groups });
  const keyPem = privateKeyPem(keys.privateKey, opts.passout);
  if (replace) {
    writeFileAtomic(l.key(name), keyPem, PRIVATE_FILE_MODE);
    writeFileAtomic(l.req(name), requestPem(req), PUBLIC_FILE_MODE);
  } else {
    createFileAtomic(l.key(name), keyPem, PRIVATE_FILE_MODE, 'a private key');
    createFileAtomic(l.req(name), requestPem(req), PUBLIC_FILE_MODE, 'a request');
  }
  return req;
}

/** import-req FILE NAME: copies a PKCS#10 request (PEM, as `openssl req` reads) to reqs/NAME.req. */
export function importReq(dir: string, file: string, name: string): string {
  const l = pkiLayout(dir);
  checkNewName(name);
  assertInitialised(l);
  const text = readTextIfExists(file);
  if (text === undefined) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`the request file ${file} was not found`]);
  }
  parseRequest(text, file);
  createFileAtomic(l.req(name), text, PUBLIC_FILE_MODE, 'a request');
  return l.req(name);
}

function parseRequest(text: string, file: string): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(text);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`${file} is not a PEM certificate request`], {
      cause: err,
      hint: 'give a PKCS#10 request in PEM ("BEGIN CERTIFICATE REQUEST"), as `openssl req -new` writes',
    });
  }
}

export interface SignOptions {
  readonly days?: number;
  /** easy-rsa's --san: replaces whatever SAN the request or the profile would give. */
  readonly sans?: readonly SanEntry[];
  /** easy-rsa's --copy-ext: a client certificate also takes the request's subjectAltName. */
  readonly copyExt?: boolean;
  /** Passphrase of private/ca.key, when it is encrypted. */
  readonly passin?: string;
  readonly digest?: Digest;
}

export interface IssuedCertificate {
  readonly name: string;
  readonly serial: string;
  readonly certificate: X509Certificate;
  readonly files: { readonly cert: string; readonly key: string; readonly req: string };
}

/** sign-req TYPE NAME: signs reqs/NAME.req into issued/NAME.crt. */
export async function signReq(
  dir: string,
  profile: LeafProfile,
  name: string,
  opts: SignOptions = {},
): Promise<IssuedCertificate> {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertCa(l);
  const days = checkDays(opts.days ?? DEFAULT_CERT_DAYS);
  return withLock(l, async () => {
    const text = readTextIfExists(l.req(name));
    if (text === undefined) {
      throw new GatehouseError(
        'GH_ERR_PKI_BAD_INPUT',
        [`no request named ${name}: ${l.req(name)} is missing`],
        {
          hint: 'make one with gen-req NAME, or bring one in with import-req FILE NAME',
        },
      );
    }
    const req = parseRequest(text, l.req(name));
    if (!(await req.verify())) {
      throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`the signature of ${l.req(name)} does not verify`], {
        hint: 'the request was altered or damaged; ask for a new one',
      });
    }
    if (fs.existsSync(l.issued(name))) {
      throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a certificate', l.issued(name)], {
        hint: 'revoke or renew the certificate of this name first',
      });
    }
    return issue(l, { profile, name, req, days, sans: opts.sans, copyExt: opts.copyExt, groups: [] }, opts);
  });
}

interface IssueRequest {
  readonly profile: LeafProfile;
  readonly name: string;
  readonly req: x509.Pkcs10CertificateRequest;
  readonly days: number;
  readonly sans: readonly SanEntry[] | undefined;
  readonly copyExt: boolean | undefined;
  readonly groups: readonly string[];
}

/** The signing step every verb shares: certificate, certs_by_serial copy, serial, index line. Holds the lock. */
async function issue(l: PkiLayout, r: IssueRequest, opts: SignOptions): Promise<IssuedCertificate> {
  const ca = await loadCaSigner(l, opts.passin, opts.digest);
  const entries = readIndexStrict(l);
  const subject = policySubject(r.req.subjectName);
  const reqSan = r.req.getExtension(SAN_OID) ?? undefined;
  let sans: readonly SanEntry[] = r.sans ?? [];
  let subjectAltName: x509.Extension | undefined;
  if (r.sans === undefined || r.sans.length === 0) {
    const serverLike = r.profile !== 'client';
    if (reqSan && (serverLike || r.copyExt)) subjectAltName = reqSan;
    else if (serverLike) sans = [defaultServerSan(commonNameOfName(subject) ?? r.name)];
  }
  let serial = randomSerial();
  while (findBySerial(entries, serial) >= 0 || fs.existsSync(l.certBySerial(serial))) serial = randomSerial();
  const notBefore = nowSeconds();
  const notAfter = addDays(notBefore, r.days);
  const cert = await createLeafCertificate({
    profile: r.profile,
    subject,
    serial,
    notBefore,
    notAfter,
    publicKey: r.req.publicKey,
    sans,
    groups: r.groups,
    ...(subjectAltName ? { subjectAltName } : {}),
    ca: ca.cert,
    caSigner: ca.signer,
  });
  const pem = certificatePem(cert);
  // The certificate files first, the index line last: it is what makes the certificate count
  // (list, revoke, CRL), so an interrupted run leaves files that block the name, not a ghost.
  writeFileAtomic(l.certBySerial(serial), pem, PUBLIC_FILE_MODE);
  createFileAtomic(l.issued(r.name), pem, PUBLIC_FILE_MODE, 'a certificate');
  writeSerialAfter(l, serial);
  entries.push({
    status: 'V',
    expiry: formatOpensslTime(notAfter),
    revocation: '',
    serial,
    filename: 'unknown',
    subject: onelineName(subject),
  });
  writeIndex(l, entries);
  return {
    name: r.name,
    serial,
    certificate: new X509Certificate(Buffer.from(cert.rawData)),
    files: { cert: l.issued(r.name), key: l.key(r.name), req: l.req(r.name) },
  };
}

export interface BuildFullOptions extends NewKeyOptions, SignOptions {
  readonly dn?: DnSettings;
  /** Client groups, stored as SAN URIs urn:gatehouse:group:NAME (see identity.ts). */
  readonly groups?: readonly string[];
}

/** build-server-full / build-client-full / build-serverClient-full: gen-req NAME, then sign-req TYPE NAME. */
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
  if (profile !== 'client' && groups.length > 0) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['--group is for client certificates'], {
      hint: 'use build-client-full NAME --group G',
    });
  }
  return withLock(l, () => buildFullLocked(l, profile, name, { ...opts, days, groups }));
}

/** build-*-full's work, for a caller that holds the PKI lock (buildFull, renew). */
export async function buildFullLocked(
  l: PkiLayout,
  profile: LeafProfile,
  name: string,
  opts: BuildFullOptions & { readonly days: number; readonly groups: readonly string[] },
): Promise<IssuedCertificate> {
  for (const [f, what] of [
    [l.issued(name), 'a certificate'],
    [l.key(name), 'a private key'],
    [l.req(name), 'a request'],
  ] as const) {
    if (fs.existsSync(f)) throw new GatehouseError('GH_ERR_PKI_EXISTS', [what, f]);
  }
  // Check the CA key opens before making a key that would then be left behind.
  await loadCaSigner(l, opts.passin, opts.digest);
  const req = await writeKeyAndRequest(l, name, name, opts, opts.groups, false);
  const r = { profile, name, req, days: opts.days, sans: opts.sans, copyExt: false, groups: opts.groups };
  try {
    return await issue(l, r, opts);
  } catch (err) {
    // easy-rsa's build_full removes the request and key when signing fails.
    fs.rmSync(l.key(name), { force: true });
    fs.rmSync(l.req(name), { force: true });
    throw err;
  }
}

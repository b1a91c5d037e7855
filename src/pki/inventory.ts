// Reading the PKI: list the certificates index.txt knows, with their status and files; show one;
// hand the daemon a named certificate and key.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import { readIndexLenient } from './ca-index-store.js';
import { groupsFromCertificate } from './identity.js';
import {
  type IndexProblem,
  normaliseSerial,
  parseOpensslTime,
  parseRevocation,
  type RevocationReason,
} from './ca-index-format.js';
import { loadPrivateKey } from './keys.js';
import { checkLookupName, commonNameOf } from './names.js';
import {
  assertCa,
  assertInitialised,
  pkiLayout,
  type PkiLayout,
  readText,
  readTextIfExists,
} from './store.js';

export type CertStatus = 'valid' | 'revoked' | 'expired';

export interface CertRecord {
  /** The easy-rsa file name base (issued/NAME.crt), or the CN when only the revoked copy is left. */
  readonly name: string;
  readonly status: CertStatus;
  readonly serial: string;
  readonly subject: string;
  readonly expires: Date;
  readonly revokedAt: Date | undefined;
  readonly reason: RevocationReason | undefined;
  /** The certificate file, if it is still on disk (issued/ or revoked/certs_by_serial/). */
  readonly file: string | undefined;
}

export interface Inventory {
  readonly records: readonly CertRecord[];
  /** Malformed index lines and issued/ files the index does not know, to show as warnings. */
  readonly warnings: readonly string[];
}

export function listCertificates(dir: string, now: Date = new Date()): Inventory {
  const l = pkiLayout(dir);
  assertCa(l);
  const parsed = readIndexLenient(l);
  const warnings = parsed.problems.map((p: IndexProblem) => `${l.index}:${p.line}: ${p.reason}`);
  const issuedBySerial = scanIssued(l, warnings);
  const seen = new Set<string>();
  const records: CertRecord[] = parsed.entries.map((e) => {
    const serial = normaliseSerial(e.serial);
    seen.add(serial);
    const expires = parseOpensslTime(e.expiry) ?? new Date(0);
    const rev = e.status === 'R' ? parseRevocation(e.revocation) : undefined;
    const revoked = rev && !('error' in rev) ? rev : undefined;
    const issuedName = issuedBySerial.get(serial);
    const revokedFile = l.revokedCert(serial);
    const file =
      issuedName !== undefined ? l.issued(issuedName) : fs.existsSync(revokedFile) ? revokedFile : undefined;
    const status: CertStatus =
      e.status === 'R'
        ? 'revoked'
        : e.status === 'E' || expires.getTime() <= now.getTime()
          ? 'expired'
          : 'valid';
    return {
      name: issuedName ?? commonNameOf(e.subject) ?? e.subject,
      status,
      serial,
      subject: e.subject,
      expires,
      revokedAt: revoked?.date,
      reason: revoked?.reason,
      file,
    };
  });
  for (const [serial, name] of issuedBySerial) {
    if (!seen.has(serial)) warnings.push(`${l.issued(name)}: serial ${serial} is not in ${l.index}`);
  }
  return { records, warnings };
}

function scanIssued(l: PkiLayout, warnings: string[]): Map<string, string> {
  const bySerial = new Map<string, string>();
  let files: string[] = [];
  try {
    files = fs.readdirSync(l.issuedDir).filter((f) => f.endsWith('.crt'));
  } catch {
    return bySerial;
  }
  for (const f of files.sort()) {
    try {
      const cert = new X509Certificate(fs.readFileSync(path.join(l.issuedDir, f)));
      bySerial.set(normaliseSerial(cert.serialNumber), f.slice(0, -'.crt'.length));
    } catch {
      warnings.push(`${path.join(l.issuedDir, f)}: not a PEM certificate`);
    }
  }
  return bySerial;
}

export interface CertDetails {
  readonly record: CertRecord | undefined;
  readonly certificate: X509Certificate;
  readonly file: string;
  readonly profile: CertProfile;
  readonly groups: readonly string[];
  readonly subjectAltName: string | undefined;
  readonly keyDescription: string;
}

/** One certificate by name: issued/NAME.crt, else the newest revoked one with CN=NAME; "ca" is ca.crt. */
export function showCertificate(dir: string, name: string): CertDetails {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertInitialised(l);
  if (name === 'ca' && !fs.existsSync(l.issued('ca'))) {
    assertCa(l);
    return details(new X509Certificate(readText(l.caCrt)), l.caCrt, undefined);
  }
  const inv = listCertificates(dir);
  const issuedPem = readTextIfExists(l.issued(name));
  if (issuedPem !== undefined) {
    const cert = new X509Certificate(issuedPem);
    const serial = normaliseSerial(cert.serialNumber);
    return details(
      cert,
      l.issued(name),
      inv.records.find((r) => r.serial === serial),
    );
  }
  const revoked = inv.records
    .filter((r) => r.status === 'revoked' && commonNameOf(r.subject) === name && r.file !== undefined)
    .sort((a, b) => (b.revokedAt?.getTime() ?? 0) - (a.revokedAt?.getTime() ?? 0))[0];
  if (revoked?.file) return details(new X509Certificate(readText(revoked.file)), revoked.file, revoked);
  throw new GatehouseError('GH_ERR_PKI_NOT_ISSUED', [name, l.root]);
}

export type CertProfile = 'ca' | 'server' | 'client' | 'server+client' | 'other';

/** What a certificate is for: a CA by its basic constraints, else by its extended key usage. */
export function certificateProfile(cert: X509Certificate): CertProfile {
  if (cert.ca) return 'ca';
  const eku = cert.keyUsage ?? [];
  const server = eku.includes('1.3.6.1.5.5.7.3.1');
  const client = eku.includes('1.3.6.1.5.5.7.3.2');
  return server && client ? 'server+client' : server ? 'server' : client ? 'client' : 'other';
}

function details(cert: X509Certificate, file: string, record: CertRecord | undefined): CertDetails {
  const profile = certificateProfile(cert);
  const key = cert.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  const keyDescription =
    key.asymmetricKeyType === 'ec'
      ? `EC ${d.namedCurve ?? ''}`
      : key.asymmetricKeyType === 'rsa'
        ? `RSA ${d.modulusLength ?? ''}`
        : String(key.asymmetricKeyType);
  return {
    record,
    certificate: cert,
    file,
    profile,
    groups: groupsFromCertificate(cert),
    subjectAltName: cert.subjectAltName,
    keyDescription,
  };
}

/** The PEM certificate and private key of NAME, e.g. an access endpoint's serverCertificate. */
export function loadCredentials(
  dir: string,
  name: string,
  passphrase?: string,
): { cert: string; key: string } {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertCa(l);
  const cert = readTextIfExists(l.issued(name));
  if (cert === undefined) throw new GatehouseError('GH_ERR_PKI_NOT_ISSUED', [name, l.root]);
  const keyPem = readText(l.key(name));
  const key = loadPrivateKey(keyPem, `key ${l.key(name)}`, passphrase);
  if (!new X509Certificate(cert).checkPrivateKey(key)) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${l.key(name)} does not belong to ${l.issued(name)}`]);
  }
  return { cert, key: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** ca.crt as a Node certificate. */
export function loadCaCertificate(dir: string): X509Certificate {
  const l = pkiLayout(dir);
  assertCa(l);
  return new X509Certificate(readText(l.caCrt));
}

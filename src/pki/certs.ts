// Certificates, requests and serials, with the extensions of easy-rsa's x509-types profiles
// (ca, server, client) and `authorityKeyIdentifier = keyid,issuer:always` as openssl-easyrsa.cnf has it.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  Certificate,
  GeneralName as AsnGeneralName,
  id_ce_authorityKeyIdentifier,
  KeyIdentifier,
} from '@peculiar/asn1-x509';
import { GatehouseError } from '../errors.js';
import { groupUri } from './identity.js';
import type { KeyPair, WebSigner } from './keys.js';
import { type DomCryptoKey, x509 } from './x509.js';

export type LeafProfile = 'server' | 'client';

export interface SanEntry {
  readonly type: 'dns' | 'ip' | 'url';
  readonly value: string;
}

/** easy-rsa's --subject-alt-name syntax for one entry: DNS:name or IP:address. */
export function parseSan(s: string): SanEntry {
  const m = /^(DNS|IP):(.+)$/i.exec(s.trim());
  const kind = m?.[1]?.toUpperCase();
  const value = m?.[2] ?? '';
  if (
    kind === 'DNS' &&
    /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/.test(
      value,
    )
  ) {
    return { type: 'dns', value: value.toLowerCase() };
  }
  if (kind === 'IP' && isIP(value) !== 0) return { type: 'ip', value };
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad --san "${s}"`], {
    hint: 'write DNS:host.example.com or IP:192.0.2.10 (repeat --san for more)',
  });
}

/** The SAN easy-rsa 3.1 gives a server without --san: IP:NAME when NAME is an IPv4 address, DNS:NAME otherwise. */
export function defaultServerSan(name: string): SanEntry {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) ? { type: 'ip', value: name } : { type: 'dns', value: name };
}

/**
 * A fresh serial like easy-rsa 3.1's (`openssl rand -hex 16`): 16 random bytes, first byte kept in
 * 0x01–0x7F so the DER integer is positive, 16 bytes long, and prints as 32 hex digits everywhere.
 */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f || 0x01;
  return b.toString('hex').toUpperCase();
}

/** CN=NAME as a UTF8String, as `openssl req -utf8` (easy-rsa) encodes it. */
export function subjectFor(cn: string): x509.Name {
  return new x509.Name([{ '2.5.4.3': [{ utf8String: cn }] }]);
}

function sanExtension(entries: readonly SanEntry[]): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(entries.map((e) => ({ type: e.type, value: e.value })));
}

/**
 * keyid + DirName + serial of the issuing CA, as OpenSSL writes for `keyid,issuer:always`: the
 * DirName is the issuing CA certificate's own issuer (RFC 5280 4.2.1.1; OpenSSL matches it against
 * the candidate's issuer), which for a self-signed root is its subject, and for the login CA the root's.
 */
function authorityKeyIdentifier(issuerDer: ArrayBuffer, keyId: ArrayBuffer): x509.Extension {
  const issuer = AsnConvert.parse(issuerDer, Certificate).tbsCertificate;
  const aki = new AuthorityKeyIdentifier({
    keyIdentifier: new KeyIdentifier(keyId),
    authorityCertIssuer: [new AsnGeneralName({ directoryName: issuer.issuer })],
    authorityCertSerialNumber: issuer.serialNumber,
  });
  return new x509.Extension(id_ce_authorityKeyIdentifier, false, AsnConvert.serialize(aki));
}

export async function authorityKeyIdFromCa(ca: x509.X509Certificate): Promise<x509.Extension> {
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski
    ? Buffer.from(ski.keyId, 'hex')
    : Buffer.from((await x509.SubjectKeyIdentifierExtension.create(ca.publicKey)).keyId, 'hex');
  return authorityKeyIdentifier(ca.rawData, new Uint8Array(keyId).buffer);
}

export interface CaParams {
  readonly commonName: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signer: WebSigner;
}

/** A self-signed CA with easy-rsa's `ca` profile. */
export async function createCaCertificate(p: CaParams): Promise<x509.X509Certificate> {
  const ski = await x509.SubjectKeyIdentifierExtension.create(p.signer.publicKey);
  const base = {
    serialNumber: p.serial,
    subject: subjectFor(p.commonName),
    issuer: subjectFor(p.commonName),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.signer.publicKey,
    signingKey: p.signer.privateKey,
    signingAlgorithm: p.signer.signingAlgorithm,
  };
  const caExts = [
    new x509.BasicConstraintsExtension(true, undefined, false),
    ski,
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, false),
  ];
  // The AKI of a self-signed CA names the CA itself (issuer DirName and serial): sign once without it
  // to learn the encoded subject and serial, then sign the final certificate.
  const draft = await x509.X509CertificateGenerator.create({ ...base, extensions: caExts });
  const aki = authorityKeyIdentifier(draft.rawData, new Uint8Array(Buffer.from(ski.keyId, 'hex')).buffer);
  return x509.X509CertificateGenerator.create({
    ...base,
    extensions: [caExts[0]!, caExts[1]!, aki, caExts[2]!],
  });
}

export interface LeafParams {
  readonly profile: LeafProfile;
  readonly commonName: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: DomCryptoKey;
  readonly sans: readonly SanEntry[];
  readonly groups: readonly string[];
  readonly ca: x509.X509Certificate;
  readonly caSigner: WebSigner;
}

/** A server or client certificate with easy-rsa's `server` / `client` profile. */
export async function createLeafCertificate(p: LeafParams): Promise<x509.X509Certificate> {
  const server = p.profile === 'server';
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, false),
    await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
    await authorityKeyIdFromCa(p.ca),
    new x509.ExtendedKeyUsageExtension(
      [server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    new x509.KeyUsagesExtension(
      server
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature,
      false,
    ),
  ];
  const sans = allSans(p);
  if (sans.length > 0) extensions.push(sanExtension(sans));
  return x509.X509CertificateGenerator.create({
    serialNumber: p.serial,
    subject: subjectFor(p.commonName),
    issuer: p.ca.subjectName,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.publicKey,
    signingKey: p.caSigner.privateKey,
    signingAlgorithm: p.caSigner.signingAlgorithm,
    extensions,
  });
}

function allSans(p: { sans: readonly SanEntry[]; groups: readonly string[] }): SanEntry[] {
  return [...p.sans, ...p.groups.map((g): SanEntry => ({ type: 'url', value: groupUri(g) }))];
}

/** The PKCS#10 request easy-rsa keeps in reqs/NAME.req (subject and the SANs asked for). */
export async function createRequest(p: {
  commonName: string;
  signer: WebSigner;
  sans: readonly SanEntry[];
  groups: readonly string[];
}): Promise<x509.Pkcs10CertificateRequest> {
  const sans = allSans(p);
  return x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectFor(p.commonName),
    keys: { privateKey: p.signer.privateKey, publicKey: p.signer.publicKey },
    signingAlgorithm: p.signer.signingAlgorithm,
    extensions: sans.length > 0 ? [sanExtension(sans)] : [],
  });
}

export function certificatePem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trim()}\n`;
}

export function requestPem(req: x509.Pkcs10CertificateRequest): string {
  return `${req.toString('pem').trim()}\n`;
}

export { KeyPair };

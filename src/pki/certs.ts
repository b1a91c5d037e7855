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

/** easy-rsa's x509-types for leaf certificates: client, server, serverClient. */
export type LeafProfile = 'server' | 'client' | 'serverClient';
export const LEAF_PROFILES: readonly LeafProfile[] = ['client', 'server', 'serverClient'];

export interface SanEntry {
  readonly type: 'dns' | 'ip' | 'url' | 'email';
  readonly value: string;
}

const DNS_NAME =
  /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;

/**
 * One subjectAltName entry in OpenSSL's syntax as easy-rsa passes it: DNS:name, IP:address,
 * email:address or URI:uri (the type case-insensitive, the value kept as written, as OpenSSL does).
 */
export function parseSan(s: string): SanEntry {
  const m = /^(DNS|IP|email|URI):(.+)$/i.exec(s.trim());
  const kind = m?.[1]?.toUpperCase();
  const value = m?.[2] ?? '';
  if (kind === 'DNS' && DNS_NAME.test(value)) return { type: 'dns', value };
  if (kind === 'IP' && isIP(value) !== 0) return { type: 'ip', value };
  if (kind === 'EMAIL' && /^[^\s@]+@[^\s@]+$/.test(value)) return { type: 'email', value };
  if (kind === 'URI' && /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(value)) return { type: 'url', value };
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad subjectAltName entry "${s}"`], {
    hint: 'write DNS:host.example.com, IP:192.0.2.10, email:a@example.com or URI:urn:x, several separated by commas (--san=DNS:a,IP:b)',
  });
}

/** easy-rsa's --subject-alt-name / --san value: entries separated by commas, as OpenSSL splits them. */
export function parseSanList(s: string): SanEntry[] {
  return s
    .split(',')
    .filter((e) => e.trim() !== '')
    .map(parseSan);
}

/** The entry as OpenSSL writes it in a config (and as `openssl x509 -text` shows it, but "IP Address"). */
export function formatSan(e: SanEntry): string {
  const kind = { dns: 'DNS', ip: 'IP', email: 'email', url: 'URI' }[e.type];
  return `${kind}:${e.value}`;
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
  readonly subject: x509.Name;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signer: WebSigner;
  /** easy-rsa's build-ca adds --subject-alt-name to the CA too. */
  readonly sans?: readonly SanEntry[];
}

/** A self-signed CA with easy-rsa's `ca` profile. */
export async function createCaCertificate(p: CaParams): Promise<x509.X509Certificate> {
  const ski = await x509.SubjectKeyIdentifierExtension.create(p.signer.publicKey);
  const base = {
    serialNumber: p.serial,
    subject: p.subject,
    issuer: p.subject,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: p.signer.publicKey,
    signingKey: p.signer.privateKey,
    signingAlgorithm: p.signer.signingAlgorithm,
  };
  const caExts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, false),
    ski,
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, false),
  ];
  const sans = p.sans && p.sans.length > 0 ? [sanExtension(p.sans)] : [];
  // The AKI of a self-signed CA names the CA itself (issuer DirName and serial): sign once without it
  // to learn the encoded subject and serial, then sign the final certificate.
  const draft = await x509.X509CertificateGenerator.create({ ...base, extensions: [...caExts, ...sans] });
  const aki = authorityKeyIdentifier(draft.rawData, new Uint8Array(Buffer.from(ski.keyId, 'hex')).buffer);
  return x509.X509CertificateGenerator.create({
    ...base,
    extensions: [caExts[0]!, caExts[1]!, aki, caExts[2]!, ...sans],
  });
}

export interface LeafParams {
  readonly profile: LeafProfile;
  readonly subject: x509.Name;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: DomCryptoKey | x509.PublicKey;
  readonly sans: readonly SanEntry[];
  readonly groups: readonly string[];
  /** A subjectAltName to use as it is (a request's, for sign-req), instead of `sans` and `groups`. */
  readonly subjectAltName?: x509.Extension;
  readonly ca: x509.X509Certificate;
  readonly caSigner: WebSigner;
}

/** A certificate with easy-rsa's `server`, `client` or `serverClient` profile (x509-types/). */
export async function createLeafCertificate(p: LeafParams): Promise<x509.X509Certificate> {
  const client = p.profile === 'client';
  const eku =
    p.profile === 'server'
      ? [x509.ExtendedKeyUsage.serverAuth]
      : client
        ? [x509.ExtendedKeyUsage.clientAuth]
        : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, false),
    await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
    await authorityKeyIdFromCa(p.ca),
    new x509.ExtendedKeyUsageExtension(eku, false),
    new x509.KeyUsagesExtension(
      client
        ? x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      false,
    ),
  ];
  const sans = allSans(p);
  if (p.subjectAltName)
    extensions.push(new x509.Extension(p.subjectAltName.type, false, p.subjectAltName.value));
  else if (sans.length > 0) extensions.push(sanExtension(sans));
  return x509.X509CertificateGenerator.create({
    serialNumber: p.serial,
    subject: p.subject,
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
  subject: x509.Name;
  signer: WebSigner;
  sans: readonly SanEntry[];
  groups: readonly string[];
}): Promise<x509.Pkcs10CertificateRequest> {
  const sans = allSans(p);
  return x509.Pkcs10CertificateRequestGenerator.create({
    name: p.subject,
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

// The text of show-req, show-cert, show-ca and show-crl: the fields easy-rsa's show-* print
// (`openssl x509|req|crl -text -certopt no_pubkey,no_sigdump -nameopt …,lname,align`), laid out
// the same way and with OpenSSL's names for what scripts grep (subject lines "commonName = x",
// "TLS Web Server Authentication", "DNS:a, IP Address:10.0.0.1"). Not a byte-for-byte copy of
// OpenSSL's dump: no public key or signature bytes.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { multilineName, onelineSpacedName } from './dn.js';
import { describeKey } from './keys.js';
import { x509 } from './x509.js';

const EKU_NAMES: Record<string, string> = {
  [x509.ExtendedKeyUsage.serverAuth]: 'TLS Web Server Authentication',
  [x509.ExtendedKeyUsage.clientAuth]: 'TLS Web Client Authentication',
  [x509.ExtendedKeyUsage.codeSigning]: 'Code Signing',
  [x509.ExtendedKeyUsage.emailProtection]: 'E-mail Protection',
  [x509.ExtendedKeyUsage.timeStamping]: 'Time Stamping',
  [x509.ExtendedKeyUsage.ocspSigning]: 'OCSP Signing',
};

const KEY_USAGE_NAMES: [number, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'Digital Signature'],
  [x509.KeyUsageFlags.nonRepudiation, 'Non Repudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'Key Encipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'Data Encipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'Key Agreement'],
  [x509.KeyUsageFlags.keyCertSign, 'Certificate Sign'],
  [x509.KeyUsageFlags.cRLSign, 'CRL Sign'],
];

/** OpenSSL's date form: "Mar 10 15:37:28 2029 GMT". */
export function opensslDate(d: Date): string {
  const mon = d.toUTCString().slice(8, 11);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${mon} ${day} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()} GMT`;
}

function serialText(hex: string): string {
  const h = hex.length % 2 === 1 ? `0${hex}` : hex;
  return h.toLowerCase().replace(/(..)(?!$)/g, '$1:');
}

export function certificateText(pem: string, full: boolean): string {
  const c = new x509.X509Certificate(pem);
  const node = new X509Certificate(Buffer.from(c.rawData));
  const lines = [
    'Certificate:',
    '    Data:',
    '        Version: 3 (0x2)',
    '        Serial Number:',
    `            ${serialText(c.serialNumber)}`,
    '        Issuer:',
    ...multilineName(c.issuerName, 12),
    '        Validity',
    `            Not Before: ${opensslDate(c.notBefore)}`,
    `            Not After : ${opensslDate(c.notAfter)}`,
    '        Subject:',
    ...multilineName(c.subjectName, 12),
    `        Subject Public Key Info: ${describeKey(node.publicKey)}`,
    ...extensionLines(c.extensions, node.subjectAltName),
  ];
  if (full) lines.push(c.toString('pem'));
  return `${lines.join('\n')}\n`;
}

export function requestText(pem: string, full: boolean): string {
  const r = new x509.Pkcs10CertificateRequest(pem);
  const key = createPublicKey({ key: Buffer.from(r.publicKey.rawData), format: 'der', type: 'spki' });
  const lines = [
    'Certificate Request:',
    '    Data:',
    '        Version: 1 (0x0)',
    '        Subject:',
    ...multilineName(r.subjectName, 12),
    `        Subject Public Key Info: ${describeKey(key)}`,
    '        Attributes:',
  ];
  const ext = extensionLines(r.extensions, undefined).slice(1);
  if (ext.length === 0) lines.push('            (none)');
  else lines.push('            Requested Extensions:', ...ext.map((l) => `    ${l}`));
  if (full) lines.push(r.toString('pem'));
  return `${lines.join('\n')}\n`;
}

export function crlText(pem: string): string {
  const crl = new x509.X509Crl(pem);
  const lines = [
    'Certificate Revocation List (CRL):',
    '        Version 2 (0x1)',
    `        Issuer: ${onelineSpacedName(crl.issuerName)}`,
    `        Last Update: ${opensslDate(crl.thisUpdate)}`,
    `        Next Update: ${crl.nextUpdate ? opensslDate(crl.nextUpdate) : 'NONE'}`,
  ];
  if (crl.entries.length === 0) lines.push('No Revoked Certificates.');
  else lines.push('Revoked Certificates:');
  for (const e of crl.entries) {
    lines.push(
      `    Serial Number: ${e.serialNumber.toUpperCase()}`,
      `        Revocation Date: ${opensslDate(e.revocationDate)}`,
    );
    if (e.reason !== undefined) lines.push(`        CRL Reason Code: ${x509.X509CrlReason[e.reason]}`);
  }
  return `${lines.join('\n')}\n`;
}

function extensionLines(exts: readonly x509.Extension[], san: string | undefined): string[] {
  if (exts.length === 0) return [];
  const out = ['        X509v3 extensions:'];
  for (const e of exts) {
    const crit = e.critical ? ' critical' : '';
    if (e instanceof x509.BasicConstraintsExtension) {
      out.push(
        `            X509v3 Basic Constraints:${crit}`,
        `                CA:${e.ca ? 'TRUE' : 'FALSE'}${e.pathLength !== undefined ? `, pathlen:${e.pathLength}` : ''}`,
      );
    } else if (e instanceof x509.ExtendedKeyUsageExtension) {
      const names = e.usages.map((u) => EKU_NAMES[String(u)] ?? String(u));
      out.push(`            X509v3 Extended Key Usage:${crit}`, `                ${names.join(', ')}`);
    } else if (e instanceof x509.KeyUsagesExtension) {
      const names = KEY_USAGE_NAMES.filter(([f]) => (e.usages & f) !== 0).map(([, n]) => n);
      out.push(`            X509v3 Key Usage:${crit}`, `                ${names.join(', ')}`);
    } else if (e instanceof x509.SubjectKeyIdentifierExtension) {
      out.push(
        '            X509v3 Subject Key Identifier:',
        `                ${serialText(e.keyId).toUpperCase()}`,
      );
    } else if (e instanceof x509.AuthorityKeyIdentifierExtension) {
      out.push('            X509v3 Authority Key Identifier:');
      if (e.keyId) out.push(`                keyid:${serialText(e.keyId).toUpperCase()}`);
    } else if (e instanceof x509.SubjectAlternativeNameExtension) {
      out.push(`            X509v3 Subject Alternative Name:${crit}`, `                ${san ?? sanText(e)}`);
    } else {
      out.push(`            ${e.type}:${crit}`);
    }
  }
  return out;
}

/** A SAN as OpenSSL prints it: "DNS:a, IP Address:10.0.0.1, email:x, URI:y". */
export function sanText(e: x509.SubjectAlternativeNameExtension): string {
  const label: Record<string, string> = { dns: 'DNS', ip: 'IP Address', email: 'email', url: 'URI' };
  return e.names.items.map((n) => `${label[n.type] ?? n.type}:${n.value}`).join(', ');
}

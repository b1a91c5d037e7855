// How a client certificate names its groups, for the access endpoints to read.
//
// Each group is one URI in the certificate's subjectAltName: `urn:gatehouse:group:NAME`. A SAN URI
// leaves the subject (and so easy-rsa's index.txt line `/CN=NAME`) as easy-rsa writes it, holds any
// number of groups, survives `openssl ca`, `openssl x509 -text` and easy-rsa's own signing
// (`easyrsa --subject-alt-name="URI:urn:gatehouse:group:dev" build-client-full NAME` adds one), and is
// shown by `openssl x509 -ext subjectAltName`.
import type { X509Certificate } from 'node:crypto';
import { x509 } from './x509.js';

export const GROUP_URI_PREFIX = 'urn:gatehouse:group:';

/** Group names: what a config key or a YAML list item can hold without quoting or escaping. */
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidGroupName(name: string): boolean {
  return GROUP_NAME.test(name);
}

export function groupUri(name: string): string {
  return `${GROUP_URI_PREFIX}${name}`;
}

/**
 * The groups a certificate carries, in certificate order, without duplicates. URIs with the prefix
 * but an invalid name are ignored (fail closed: an unreadable group grants nothing).
 */
export function groupsFromCertificate(cert: X509Certificate): string[] {
  return groupsFromDer(cert.raw);
}

export function groupsFromDer(der: Uint8Array): string[] {
  const parsed = new x509.X509Certificate(new Uint8Array(der));
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return [];
  const groups: string[] = [];
  for (const name of san.names.items) {
    if (name.type !== 'url' || !name.value.startsWith(GROUP_URI_PREFIX)) continue;
    const group = name.value.slice(GROUP_URI_PREFIX.length);
    if (isValidGroupName(group) && !groups.includes(group)) groups.push(group);
  }
  return groups;
}

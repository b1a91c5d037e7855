// The certificate as JSON, defined once: a certificate of index.txt as `gatehouse pki list --json`
// and GET /api/pki/certificates give it, and one certificate in full as `gatehouse pki show --json`
// gives it. Dates are ISO strings; in JSON a field without a value (not revoked, no SAN) is left out.
import type { RevocationReason } from './ca-index-format.js';
import type { CertDetails, CertRecord, CertStatus } from './inventory.js';

export interface CertificateView {
  readonly name: string;
  readonly status: CertStatus;
  readonly serial: string;
  readonly subject: string;
  readonly expires: string;
  readonly revokedAt: string | undefined;
  readonly reason: RevocationReason | undefined;
  /** The certificate file, if still on disk: `pki list --json` gives it, the admin API leaves it out. */
  readonly file?: string | undefined;
}

/** A certificate of the inventory; `file: true` adds where it is on disk. */
export function certificateView(r: CertRecord, { file = false } = {}): CertificateView {
  return {
    name: r.name,
    status: r.status,
    serial: r.serial,
    subject: r.subject,
    expires: r.expires.toISOString(),
    revokedAt: r.revokedAt?.toISOString(),
    reason: r.reason,
    ...(file ? { file: r.file } : {}),
  };
}

export interface CertificateDetailsView {
  readonly file: string;
  /** The status in index.txt; "ca" for ca.crt, "unknown" for a certificate index.txt does not list. */
  readonly status: CertStatus | 'ca' | 'unknown';
  readonly profile: CertDetails['profile'];
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly key: string;
  readonly subjectAltName: string | undefined;
  readonly groups: readonly string[];
  readonly revokedAt: string | undefined;
  readonly reason: RevocationReason | undefined;
  readonly sha256: string;
  /** The certificate PEM, with `pem: true`. */
  readonly pem?: string;
}

/** One certificate in full (never its key); `pem: true` adds the certificate PEM. */
export function certificateDetailsView(d: CertDetails, { pem = false } = {}): CertificateDetailsView {
  const c = d.certificate;
  return {
    file: d.file,
    status: d.record?.status ?? (d.profile === 'ca' ? 'ca' : 'unknown'),
    profile: d.profile,
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber,
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    key: d.keyDescription,
    subjectAltName: d.subjectAltName,
    groups: d.groups,
    revokedAt: d.record?.revokedAt?.toISOString(),
    reason: d.record?.reason,
    sha256: c.fingerprint256,
    ...(pem ? { pem: c.toString() } : {}),
  };
}

// Identity from a client certificate, checked on every connection (resumed TLS sessions included):
// the handshake verified the chain against the CA and CRL of its SecureContext, and the serial is
// checked here against the CRL in force now, so a session resumed from an old ticket is refused too.
import type { TLSSocket } from 'node:tls';
import { groupsFromCertificate } from '../../pki/index.js';
import { normaliseSerial, type Trust } from './trust.js';

export interface ClientIdentity {
  readonly commonName: string;
  /** Upper-case hex, no leading zeros. */
  readonly serial: string;
  readonly groups: readonly string[];
  readonly notAfter: Date;
}

/** Why a client certificate is refused: the values of the connection log's `reason`. */
export type CertificateRefusal =
  | 'no_certificate'
  | 'unknown_ca'
  | 'revoked'
  | 'expired'
  | 'not_yet_valid'
  | 'crl_expired'
  | 'bad_certificate';

export type PeerCheck =
  { ok: true; identity: ClientIdentity } | { ok: false; reason: CertificateRefusal; detail: string };

function refusalFor(code: string): CertificateRefusal {
  switch (code) {
    case 'CERT_REVOKED':
      return 'revoked';
    case 'CRL_HAS_EXPIRED':
      return 'crl_expired';
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not_yet_valid';
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return 'unknown_ca';
    default:
      return 'bad_certificate';
  }
}

function commonNameOf(subject: string): string {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return '';
}

/** Groups parsed once per certificate (by serial): parsing the SAN is the costly part. */
const groupCache = new Map<string, readonly string[]>();

export function checkPeer(socket: TLSSocket, trust: Trust): PeerCheck {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { ok: false, reason: 'no_certificate', detail: 'the client sent no certificate' };
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'UNKNOWN');
    return { ok: false, reason: refusalFor(code), detail: code };
  }
  const serial = normaliseSerial(cert.serialNumber);
  if (trust.crl?.revoked.has(serial)) {
    return { ok: false, reason: 'revoked', detail: `serial ${serial} is in the CRL` };
  }
  const login = trust.loginCa;
  if (login?.crl?.revoked.has(serial) && cert.issuer === login.subject) {
    return { ok: false, reason: 'revoked', detail: `serial ${serial} is in the login CA's CRL` };
  }
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() < Date.now()) return { ok: false, reason: 'expired', detail: cert.validTo };
  let groups = groupCache.get(serial);
  if (!groups) {
    try {
      groups = Object.freeze(groupsFromCertificate(cert));
    } catch {
      groups = Object.freeze([]); // an unreadable SAN grants nothing
    }
    if (groupCache.size > 10_000) groupCache.clear();
    groupCache.set(serial, groups);
  }
  return { ok: true, identity: { commonName: commonNameOf(cert.subject), serial, groups, notAfter } };
}

/** What a refused client is told (a 403 body, a RESP error line). */
export function refusalMessage(reason: CertificateRefusal): string {
  switch (reason) {
    case 'no_certificate':
      return 'no client certificate: connect with the certificate and key from your profile';
    case 'unknown_ca':
      return "client certificate not issued by this endpoint's CA";
    case 'revoked':
      return 'client certificate revoked';
    case 'expired':
      return 'client certificate expired';
    case 'not_yet_valid':
      return 'client certificate not yet valid';
    case 'crl_expired':
      return "the endpoint's CRL is past its next update; its operator must run gatehouse pki gen-crl";
    case 'bad_certificate':
      return 'client certificate refused';
  }
}

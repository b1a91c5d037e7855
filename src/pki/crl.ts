// Certificate revocation lists: built from index.txt's R lines, signed by the CA, written as
// `-----BEGIN X509 CRL-----` (what OpenSSL writes and Node's TLS `crl` option parses; @peculiar/x509
// writes `BEGIN CRL`, which Node refuses with "Failed to parse CRL").
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { authorityKeyIdFromCa } from './certs.js';
import { type IndexEntry, parseRevocation, REVOCATION_REASONS } from './ca-index-format.js';
import type { WebSigner } from './keys.js';
import { x509 } from './x509.js';

export interface CrlParams {
  readonly ca: x509.X509Certificate;
  readonly signer: WebSigner;
  readonly entries: readonly IndexEntry[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly crlNumber: number;
}

export async function createCrl(p: CrlParams): Promise<x509.X509Crl> {
  const revoked: x509.X509CrlEntryParams[] = [];
  for (const e of p.entries) {
    if (e.status !== 'R') continue;
    const rev = parseRevocation(e.revocation);
    if ('error' in rev) continue; // the store refuses an index with bad lines before we get here
    revoked.push({
      serialNumber: e.serial,
      revocationDate: rev.date,
      ...(rev.reason === undefined
        ? {}
        : { reason: REVOCATION_REASONS[rev.reason] as number as x509.X509CrlReason }),
      ...(rev.invalidity === undefined ? {} : { invalidity: rev.invalidity }),
    });
  }
  return x509.X509CrlGenerator.create({
    issuer: p.ca.subjectName,
    thisUpdate: p.thisUpdate,
    nextUpdate: p.nextUpdate,
    entries: revoked,
    signingKey: p.signer.privateKey,
    signingAlgorithm: p.signer.signingAlgorithm,
    extensions: [
      await authorityKeyIdFromCa(p.ca),
      new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(p.crlNumber))),
    ],
  });
}

export function crlPem(der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`;
}

/** Parses a CRL in PEM (`X509 CRL` or `CRL`) or DER. */
export function parseCrl(data: string | Uint8Array): x509.X509Crl {
  if (typeof data === 'string') {
    const m = /-----BEGIN (?:X509 )?CRL-----([\s\S]*?)-----END (?:X509 )?CRL-----/.exec(data);
    if (!m) throw new Error('no CRL PEM block');
    return new x509.X509Crl(new Uint8Array(Buffer.from(m[1] ?? '', 'base64')));
  }
  return new x509.X509Crl(new Uint8Array(data));
}

export function crlNumberOf(crl: x509.X509Crl): bigint | undefined {
  const ext = crl.getExtension(id_ce_cRLNumber);
  if (!ext) return undefined;
  return BigInt(AsnConvert.parse(ext.value, CRLNumber).value);
}

/**
 * The next CRL number without a `crlnumber` file (easy-rsa keeps none): one more than the current
 * CRL's, and at least the Unix time in seconds, so it also increases after a CRL is deleted.
 */
export function nextCrlNumber(current: x509.X509Crl | undefined, now: Date): number {
  const previous = current ? (crlNumberOf(current) ?? 0n) : 0n;
  const byTime = BigInt(Math.floor(now.getTime() / 1000));
  const next = previous + 1n > byTime ? previous + 1n : byTime;
  return Number(next);
}

// The TLS material of the access endpoints: the PKI's CA and CRL (shared by every endpoint) and
// each endpoint's server certificate, built into one SecureContext per endpoint.
//
// A CRL is only taken after it parses and its signature verifies against the CA: OpenSSL checks
// the signature at handshake time, so a bad CRL handed to it would refuse every client. A refused
// CRL leaves the last good one in force. Each rebuild makes new SecureContexts, which also makes new
// session ticket keys, so a ticket issued before a revocation cannot resume afterwards.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { GatehouseError } from '../../errors.js';
import { loadCaCertificatePem, loadCredentials } from '../../pki/index.js';
import { parseCrl } from '../../pki/crl.js';
import { x509 } from '../../pki/x509.js';

export interface CrlInfo {
  readonly pem: string;
  /** Revoked serials, normalised (see normaliseSerial). */
  readonly revoked: ReadonlySet<string>;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
}

export interface Trust {
  readonly pkiDir: string;
  readonly caPem: string;
  readonly ca: X509Certificate;
  readonly crl: CrlInfo | undefined;
}

/** Upper-case hex without leading zeros: Node, OpenSSL and @peculiar write serials differently. */
export function normaliseSerial(serial: string): string {
  return serial
    .replace(/[^0-9a-f]/gi, '')
    .toUpperCase()
    .replace(/^0+(?=.)/, '');
}

export function crlPath(pkiDir: string): string {
  return path.join(pkiDir, 'crl.pem');
}

/** Parse and verify a CRL against the CA; throws GH_ERR_ACCESS_CRL with the reason. */
export async function checkCrl(pem: string, caPem: string, file: string): Promise<CrlInfo> {
  let crl: x509.X509Crl;
  try {
    crl = parseCrl(pem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it is not a PEM CRL'], { cause: err });
  }
  const ca = new x509.X509Certificate(caPem);
  let ok = false;
  try {
    ok = await crl.verify({ publicKey: ca });
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'its signature cannot be checked'], { cause: err });
  }
  if (!ok) throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it is not signed by the PKI CA']);
  // Node's TLS stack parses it too: refuse here what it would refuse at handshake time.
  try {
    tls.createSecureContext({ ca: caPem, crl: [pem] });
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'the TLS stack cannot load it'], { cause: err });
  }
  return {
    pem,
    revoked: new Set(crl.entries.map((e) => normaliseSerial(e.serialNumber))),
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
  };
}

/** Read ca.crt and crl.pem (when there is one) of a PKI. */
export async function loadTrust(pkiDir: string): Promise<Trust> {
  const caPem = loadCaCertificatePem(pkiDir);
  const file = crlPath(pkiDir);
  let pem: string | undefined;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it cannot be read'], { cause: err });
  }
  const crl = pem === undefined ? undefined : await checkCrl(pem, caPem, file);
  return { pkiDir, caPem, ca: new X509Certificate(caPem), crl };
}

/** A new Trust with the CRL file re-read; throws (and the caller keeps the old one) when it is bad. */
export async function reloadCrl(trust: Trust): Promise<Trust> {
  const file = crlPath(trust.pkiDir);
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_CRL', [file, 'it cannot be read'], { cause: err });
  }
  if (pem === trust.crl?.pem) return trust;
  return { ...trust, crl: await checkCrl(pem, trust.caPem, file) };
}

export interface ServerCredentials {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

export function loadServerCredentials(pkiDir: string, name: string): ServerCredentials {
  return { name, ...loadCredentials(pkiDir, name) };
}

/** One endpoint's TLS options: its server certificate, clients verified against CA and CRL. */
export function tlsOptionsFor(cred: ServerCredentials, trust: Trust): tls.SecureContextOptions {
  return {
    cert: cred.cert,
    key: cred.key,
    ca: trust.caPem,
    // One PEM per CA level, as an array: a single CA here.
    ...(trust.crl ? { crl: [trust.crl.pem] } : {}),
    minVersion: 'TLSv1.2',
  };
}

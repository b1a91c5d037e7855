// revoke and gen-crl. Revoke marks the index line R (with time and reason) and then moves the
// certificate, key and request to revoked/{certs,private,reqs}_by_serial/SERIAL.{crt,key,req}, as
// easy-rsa does, so the name can be issued again. Like easy-rsa 3.2 it then deletes what was made
// from them (PKCS exports, inline files): a revoked client's ready-to-use bundle must not stay
// beside the valid ones, and a re-issued name must not pick up the old one. The CRL is only
// rebuilt by gen-crl.
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import { addDays, checkDays, DEFAULT_CRL_DAYS, loadCaSigner, nowSeconds } from './authority.js';
import { createCrl, crlPem, nextCrlNumber, parseCrl } from './crl.js';
import { findBySerial, readIndexStrict, writeIndex } from './ca-index-store.js';
import {
  formatRevocation,
  normaliseSerial,
  REVOCATION_REASONS,
  type RevocationReason,
} from './ca-index-format.js';
import { checkLookupName } from './names.js';
import {
  assertCa,
  caDirs,
  ensureDir,
  moveFile,
  pkiLayout,
  PUBLIC_FILE_MODE,
  readText,
  readTextIfExists,
  removeFile,
  withLock,
  writeFileAtomic,
} from './store.js';
import type { x509 } from './x509.js';

export function parseReason(s: string): RevocationReason {
  if (s in REVOCATION_REASONS) return s as RevocationReason;
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unknown revocation reason "${s}"`], {
    hint: `use one of ${Object.keys(REVOCATION_REASONS).join(', ')}`,
  });
}

export interface Revoked {
  readonly name: string;
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason | undefined;
  /** Derived credential files (PKCS exports, inline files) that were deleted. */
  readonly removed: readonly string[];
}

export async function revoke(
  dir: string,
  name: string,
  opts: { reason?: RevocationReason } = {},
): Promise<Revoked> {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertCa(l);
  return withLock(l, async () => {
    const certPath = l.issued(name);
    const pem = readTextIfExists(certPath);
    if (pem === undefined) throw new GatehouseError('GH_ERR_PKI_NOT_ISSUED', [name, l.root]);
    let serial: string;
    try {
      serial = normaliseSerial(new X509Certificate(pem).serialNumber);
    } catch (err) {
      throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${certPath} is not a PEM certificate`], {
        cause: err,
      });
    }
    const entries = readIndexStrict(l);
    const at = findBySerial(entries, serial);
    const entry = entries[at];
    if (!entry) {
      throw new GatehouseError(
        'GH_ERR_PKI_CORRUPT',
        [`${certPath} (serial ${serial}) is not in ${l.index}`],
        {
          hint: 'the certificate was not issued by this CA database; restore index.txt or remove the file',
        },
      );
    }
    if (entry.status === 'R') {
      throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`${name} (serial ${serial}) is already revoked`], {
        hint: 'run `gatehouse pki gen-crl` to publish the revocation',
      });
    }
    const moves: [string, string][] = [[certPath, l.revokedCert(serial)]];
    if (fs.existsSync(l.key(name))) moves.push([l.key(name), l.revokedKey(serial)]);
    if (fs.existsSync(l.req(name))) moves.push([l.req(name), l.revokedReq(serial)]);
    for (const [, to] of moves) {
      if (fs.existsSync(to)) throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a revoked file', to]);
    }
    const revokedAt = nowSeconds();
    entries[at] = { ...entry, status: 'R', revocation: formatRevocation(revokedAt, opts.reason) };
    writeIndex(l, entries);
    for (const [d, mode] of caDirs(l)) ensureDir(d, mode);
    for (const [from, to] of moves) moveFile(from, to);
    removeFile(l.certBySerial(serial));
    const removed = l.derivedCredentials(name).filter((f) => fs.existsSync(f));
    for (const f of removed) removeFile(f);
    return { name, serial, revokedAt, reason: opts.reason, removed };
  });
}

export interface GenCrlOptions {
  readonly days?: number;
  readonly passin?: string;
}

export interface GeneratedCrl {
  readonly pem: string;
  readonly path: string;
  readonly revokedCount: number;
  readonly number: number;
  readonly nextUpdate: Date;
}

export async function genCrl(dir: string, opts: GenCrlOptions = {}): Promise<GeneratedCrl> {
  const l = pkiLayout(dir);
  assertCa(l);
  const days = checkDays(opts.days ?? DEFAULT_CRL_DAYS);
  return withLock(l, async () => {
    const ca = await loadCaSigner(l, opts.passin);
    const entries = readIndexStrict(l);
    let current: x509.X509Crl | undefined;
    try {
      const text = readTextIfExists(l.crl);
      current = text === undefined ? undefined : parseCrl(text);
    } catch {
      current = undefined; // an unreadable old CRL is replaced, not fatal
    }
    const thisUpdate = nowSeconds();
    const number = nextCrlNumber(current, thisUpdate);
    const nextUpdate = addDays(thisUpdate, days);
    const crl = await createCrl({
      ca: ca.cert,
      signer: ca.signer,
      entries,
      thisUpdate,
      nextUpdate,
      crlNumber: number,
    });
    const pem = crlPem(crl.rawData);
    writeFileAtomic(l.crl, pem, PUBLIC_FILE_MODE);
    // easy-rsa 3.2 keeps crl.der next to crl.pem; keep it in step when it is there.
    if (fs.existsSync(l.crlDer)) writeFileAtomic(l.crlDer, new Uint8Array(crl.rawData), PUBLIC_FILE_MODE);
    return {
      pem,
      path: l.crl,
      revokedCount: entries.filter((e) => e.status === 'R').length,
      number,
      nextUpdate,
    };
  });
}

export interface Published {
  readonly revoked: Revoked;
  readonly crl: GeneratedCrl;
}

/**
 * revoke, then gen-crl, for a caller that must not leave a revocation unpublished (the admin
 * API: a revoked but unpublished certificate still gets in, and a retry only says "already
 * revoked"). The CA key is opened first, so a missing or wrong passphrase changes nothing.
 */
export async function revokeAndPublish(
  dir: string,
  name: string,
  opts: { reason?: RevocationReason } & GenCrlOptions = {},
): Promise<Published> {
  const l = pkiLayout(dir);
  assertCa(l);
  await loadCaSigner(l, opts.passin);
  const revoked = await revoke(dir, name, opts.reason ? { reason: opts.reason } : {});
  const crl = await genCrl(dir, opts);
  return { revoked, crl };
}

/** crl.pem as text, for Node's TLS `crl` option; undefined when no CRL was generated yet. */
export function loadCrlPem(dir: string): string | undefined {
  const l = pkiLayout(dir);
  const text = readTextIfExists(l.crl);
  if (text === undefined) return undefined;
  try {
    parseCrl(text);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${l.crl} is not a PEM CRL`], { cause: err });
  }
  return text;
}

export function loadCaCertificatePem(dir: string): string {
  const l = pkiLayout(dir);
  assertCa(l);
  return readText(l.caCrt);
}

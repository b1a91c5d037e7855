// renew NAME, as easy-rsa 3.1: only a certificate that expires within EASYRSA_CERT_RENEW days; its
// certificate, key and request move to renewed/{issued,private,reqs}/NAME.*, its PKCS exports and
// certs_by_serial copy are deleted, and build-TYPE-full makes a new key and certificate of the same
// type (read from its extendedKeyUsage) with the old subjectAltName unless --san gives another. The
// old certificate stays valid in index.txt until `revoke-renewed` (not in Gatehouse: revoke its
// serial by hand if needed). If the new build fails the moved files come back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatehouseError } from '../errors.js';
import { checkDays, DEFAULT_CERT_DAYS } from './authority.js';
import type { LeafProfile, SanEntry } from './certs.js';
import { buildFullLocked, type BuildFullOptions, type IssuedCertificate } from './issue.js';
import { checkLookupName } from './names.js';
import {
  assertCa,
  ensureDir,
  moveFile,
  PRIVATE_DIR_MODE,
  pkiLayout,
  readTextIfExists,
  removeFile,
  withLock,
} from './store.js';
import { x509 } from './x509.js';

export const DEFAULT_RENEW_DAYS = 30;

export interface RenewOptions extends BuildFullOptions {
  /** easy-rsa's EASYRSA_CERT_RENEW: how close to its expiry a certificate may be renewed. */
  readonly renewDays?: number;
  readonly now?: Date;
}

export interface Renewed extends IssuedCertificate {
  readonly oldSerial: string;
  /** Where the old certificate, key and request went. */
  readonly moved: readonly string[];
}

export async function renew(dir: string, name: string, opts: RenewOptions = {}): Promise<Renewed> {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertCa(l);
  const days = checkDays(opts.days ?? DEFAULT_CERT_DAYS);
  const renewDays = opts.renewDays ?? DEFAULT_RENEW_DAYS;
  return withLock(l, async () => {
    const pem = readTextIfExists(l.issued(name));
    if (pem === undefined) throw new GatehouseError('GH_ERR_PKI_NOT_ISSUED', [name, l.root]);
    const old = new x509.X509Certificate(pem);
    const now = opts.now ?? new Date();
    if (old.notAfter.getTime() >= now.getTime() + renewDays * 86_400_000) {
      throw new GatehouseError(
        'GH_ERR_PKI_BAD_INPUT',
        [
          `${name} expires ${old.notAfter.toISOString()}, more than ${renewDays} days from now: renewal not allowed`,
        ],
        {
          hint: 'easy-rsa renews only within EASYRSA_CERT_RENEW days of expiry; raise it with --renew-days=N',
        },
      );
    }
    const profile = profileOf(old, l.issued(name));
    const sans = opts.sans && opts.sans.length > 0 ? opts.sans : sansOf(old);
    const renewedDir = path.join(l.root, 'renewed');
    const moves: [string, string][] = [
      [l.issued(name), path.join(renewedDir, 'issued', `${name}.crt`)],
      [l.key(name), path.join(renewedDir, 'private', `${name}.key`)],
      [l.req(name), path.join(renewedDir, 'reqs', `${name}.req`)],
    ];
    for (const [, to] of moves) {
      if (fs.existsSync(to)) {
        throw new GatehouseError('GH_ERR_PKI_EXISTS', ['a renewed file', to], {
          hint: 'an earlier renewal of this name is still in renewed/; move it away first',
        });
      }
    }
    for (const sub of ['issued', 'private', 'reqs']) ensureDir(path.join(renewedDir, sub), PRIVATE_DIR_MODE);
    const done: [string, string][] = [];
    for (const m of moves) {
      if (!fs.existsSync(m[0])) continue;
      moveFile(m[0], m[1]);
      done.push(m);
    }
    try {
      const issued = await buildFullLocked(l, profile, name, { ...opts, days, sans, groups: [] });
      const oldSerial = old.serialNumber.toUpperCase();
      for (const f of l.derivedCredentials(name)) if (fs.existsSync(f)) removeFile(f);
      removeFile(l.certBySerial(oldSerial));
      return { ...issued, oldSerial, moved: done.map(([, to]) => to) };
    } catch (err) {
      for (const [from, to] of done.reverse()) moveFile(to, from);
      throw err;
    }
  });
}

/** The easy-rsa type of a certificate, from its extendedKeyUsage (renew's own test). */
function profileOf(cert: x509.X509Certificate, file: string): LeafProfile {
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? [];
  const server = eku.includes(x509.ExtendedKeyUsage.serverAuth);
  const client = eku.includes(x509.ExtendedKeyUsage.clientAuth);
  if (server && client && eku.length === 2) return 'serverClient';
  if (server && eku.length === 1) return 'server';
  if (client && eku.length === 1) return 'client';
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`${file}: unknown key usage "${eku.join(', ')}"`], {
    hint: 'renew handles client, server and serverClient certificates, as easy-rsa',
  });
}

/** The subjectAltName entries of a certificate, in the forms Gatehouse writes. */
function sansOf(cert: x509.X509Certificate): SanEntry[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (!ext) return [];
  return ext.names.items.map((n): SanEntry => {
    if (n.type === 'dns' || n.type === 'ip' || n.type === 'email' || n.type === 'url')
      return { type: n.type, value: n.value };
    throw new GatehouseError(
      'GH_ERR_PKI_BAD_INPUT',
      [`subjectAltName entry of type ${n.type} cannot be renewed`],
      {
        hint: 'give the new names with --san=DNS:…,IP:…',
      },
    );
  });
}

// A PKI minted per test run for the access endpoint tests: a CA, a server certificate for the
// gateway, and client certificates with groups. ECDSA P-256 keys: fast.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildCa, buildFull, genCrl, initPki, parseSan, revoke } from '../../src/pki/index.js';
import { loadCaSigner } from '../../src/pki/authority.js';
import { certificatePem, createLeafCertificate, randomSerial, subjectFor } from '../../src/pki/certs.js';
import { generateKey, privateKeyPem, webSigner } from '../../src/pki/keys.js';
import { pkiLayout } from '../../src/pki/store.js';

export interface ClientFiles {
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  client(name: string, groups: string[], opts?: { days?: number }): Promise<ClientFiles>;
  revoke(name: string): Promise<void>;
  /** A client certificate signed by this CA that expired yesterday (not in index.txt). */
  expiredClient(name: string, groups: string[]): Promise<ClientFiles>;
}

/** The PKI goes into BASE/pki and client copies into BASE/clients; BASE is the caller's to remove. */
export async function mintPki(serverSans: string[], base: string): Promise<TestPki> {
  const dir = path.join(base, 'pki');
  initPki(dir);
  await buildCa(dir, { commonName: 'Access Test CA' });
  await buildFull(dir, 'server', 'server', { sans: serverSans.map(parseSan) });
  await genCrl(dir);
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    async client(name, groups, opts = {}) {
      const c = await buildFull(dir, 'client', name, { groups, ...(opts.days ? { days: opts.days } : {}) });
      // Copies: revoke moves the PKI's own files away, and a revoked client still tries with them.
      const out = path.join(base, 'clients');
      fs.mkdirSync(out, { recursive: true });
      const cert = path.join(out, `${name}.crt`);
      const key = path.join(out, `${name}.key`);
      fs.copyFileSync(c.files.cert, cert);
      fs.copyFileSync(c.files.key, key);
      return { cert, key, serial: c.serial };
    },
    async expiredClient(name, groups) {
      const ca = await loadCaSigner(pkiLayout(dir));
      const keys = await generateKey('ec-p256');
      const leaf = await webSigner(keys.privateKey);
      const serial = randomSerial();
      const day = 86_400_000;
      const cert = await createLeafCertificate({
        profile: 'client',
        subject: subjectFor(name),
        serial,
        notBefore: new Date(Date.now() - 30 * day),
        notAfter: new Date(Date.now() - day),
        publicKey: leaf.publicKey,
        sans: [],
        groups,
        ca: ca.cert,
        caSigner: ca.signer,
      });
      const out = path.join(base, 'clients');
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, `${name}.crt`), certificatePem(cert));
      fs.writeFileSync(path.join(out, `${name}.key`), privateKeyPem(keys.privateKey), { mode: 0o600 });
      return { cert: path.join(out, `${name}.crt`), key: path.join(out, `${name}.key`), serial };
    },
    async revoke(name) {
      await revoke(dir, name, { reason: 'keyCompromise' });
      await genCrl(dir);
    },
  };
}

/** `openssl verify` of CERT against the PKI's CA, and with -crl_check against its crl.pem. */
export function opensslVerify(pki: string, cert: string, withCrl: boolean): { ok: boolean; out: string } {
  const args = ['verify', '-CAfile', path.join(pki, 'ca.crt')];
  if (withCrl) args.push('-crl_check', '-CRLfile', path.join(pki, 'crl.pem'));
  const r = spawnSync('openssl', [...args, cert], { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

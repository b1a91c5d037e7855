// A PKI minted per test run for the access endpoint tests: a CA, a server certificate for the
// gateway, and client certificates with groups. ECDSA P-256 keys: fast.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCa, buildFull, genCrl, initPki, parseSan, revoke } from '../../src/pki/index.js';

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
}

export async function mintPki(serverSans: string[], root?: string): Promise<TestPki> {
  const base = root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gh-access-pki-'));
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
    async revoke(name) {
      await revoke(dir, name, { reason: 'keyCompromise' });
      await genCrl(dir);
    },
  };
}

// `gatehouse pki renew` and `update-db`: a new certificate for a name close to its expiry, and
// index.txt brought up to date (expired certificates marked E).
import type { Command } from 'commander';
import { renew, updateDb } from '../../pki/index.js';
import { keyType, type KeyOpts, withKeyOptions } from './build.js';
import { caPassphrase, newKeyPassphrase, out, progress, run, settings, words } from './verb-kit.js';

export function registerRenew(pki: Command): void {
  withKeyOptions(
    pki
      .command('renew')
      .description(
        'renew NAME (within --renew-days of expiry): old files to renewed/, a new key and certificate',
      )
      .argument('<name>', 'the name used with build-*-full or sign-req')
      .argument('[options...]', 'nopass'),
  ).action(
    run(async (name: string, given: string[], opts: KeyOpts, cmd: Command) => {
      const w = words(given, ['nopass']);
      const s = settings(cmd);
      const r = await renew(s.pki, name, {
        days: s.certDays,
        renewDays: s.renewDays,
        keyType: keyType(opts, s),
        dn: s.dn,
        sans: s.sans,
        digest: s.digest,
        passin: caPassphrase(s),
        passout: newKeyPassphrase(s, w.has('nopass'), opts.passphrase === true),
        onProgress: progress,
      });
      out(`renewed ${r.name}: ${r.files.cert} (serial ${r.serial}, expires ${r.certificate.validTo})`);
      for (const f of r.moved) out(`moved:   ${f}`);
      out(`the old certificate (serial ${r.oldSerial}) stays valid until it expires or is revoked`);
    }),
  );
}

export function registerUpdateDb(pki: Command): void {
  pki
    .command('update-db')
    .description('mark expired certificates E in index.txt (openssl ca -updatedb)')
    .action(
      run(async (_opts: unknown, cmd: Command) => {
        const s = settings(cmd);
        const marked = await updateDb(s.pki);
        out(
          `update-db: ${marked.length} certificate(s) marked expired${marked.length > 0 ? `: ${marked.join(', ')}` : ''}`,
        );
      }),
    );
}

// `gatehouse pki gen-req`, `import-req` and `sign-req`: a request made here or brought in, then
// signed as a client, server or serverClient certificate.
import type { Command } from 'commander';
import { GatehouseError } from '../../errors.js';
import { genReq, importReq, LEAF_PROFILES, type LeafProfile, signReq } from '../../pki/index.js';
import { keyType, type KeyOpts, withKeyOptions } from './build.js';
import { caPassphrase, newKeyPassphrase, out, progress, run, settings, words } from './verb-kit.js';

export function registerGenReq(pki: Command): void {
  withKeyOptions(
    pki
      .command('gen-req')
      .description('create private/NAME.key and reqs/NAME.req (CN NAME, or --req-cn with --batch)')
      .argument('<name>', 'file name base')
      .argument('[options...]', 'nopass'),
  ).action(
    run(async (name: string, given: string[], opts: KeyOpts, cmd: Command) => {
      const w = words(given, ['nopass', 'text', 'batch']);
      const s = settings(cmd);
      const batch = s.batch || w.has('batch');
      const r = await genReq(s.pki, name, {
        // easy-rsa: "--req-cn must be used with --batch, otherwise use default".
        commonName: batch ? (s.reqCn ?? name) : name,
        dn: s.dn,
        sans: s.sans,
        keyType: keyType(opts, s),
        passout: newKeyPassphrase(s, w.has('nopass'), opts.passphrase === true),
        overwrite: batch,
        onProgress: progress,
      });
      out(`request: ${r.req}`);
      out(`key:     ${r.key} (0600)`);
    }),
  );
}

export function registerImportReq(pki: Command): void {
  pki
    .command('import-req')
    .description('copy a PEM certificate request into reqs/NAME.req, to sign it with sign-req')
    .argument('<file>', 'the request (PEM "CERTIFICATE REQUEST")')
    .argument('<name>', 'the short name to sign it under')
    .action(
      run(async (file: string, name: string, _opts: unknown, cmd: Command) => {
        const s = settings(cmd);
        out(`request imported: ${importReq(s.pki, file, name)}`);
      }),
    );
}

export function registerSignReq(pki: Command): void {
  pki
    .command('sign-req')
    .alias('sign')
    .description('sign reqs/NAME.req as a client, server or serverClient certificate: issued/NAME.crt')
    .argument('<type>', LEAF_PROFILES.join(', '))
    .argument('<name>', 'the request name (reqs/NAME.req)')
    .argument('[options...]', 'nopass (accepted and ignored)')
    .action(
      run(async (type: string, name: string, given: string[], _opts: unknown, cmd: Command) => {
        words(given, ['nopass', 'batch']);
        if (!(LEAF_PROFILES as readonly string[]).includes(type)) {
          throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unknown certificate type "${type}"`], {
            hint: `use ${LEAF_PROFILES.join(', ')} (a sub-CA, type "ca", is not supported)`,
          });
        }
        const s = settings(cmd);
        const issued = await signReq(s.pki, type as LeafProfile, name, {
          days: s.certDays,
          sans: s.sans,
          copyExt: s.copyExt,
          digest: s.digest,
          passin: caPassphrase(s),
        });
        out(
          `certificate: ${issued.files.cert} (serial ${issued.serial}, expires ${issued.certificate.validTo})`,
        );
      }),
    );
}

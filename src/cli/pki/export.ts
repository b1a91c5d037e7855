// `gatehouse pki export-p12` and `export-p7`: a certificate (with the CA, and for p12 its key) in
// the PKCS formats other software imports.
import type { Command } from 'commander';
import { GatehouseError } from '../../errors.js';
import { exportP12, exportP7, resolvePassSpec } from '../../pki/index.js';
import { out, run, settings, words } from './verb-kit.js';

export function registerExportP12(pki: Command): void {
  pki
    .command('export-p12')
    .description('write private/NAME.p12: certificate, CA and key, protected by --passout (or nopass)')
    .argument('<name>', 'the certificate name')
    .argument('[options...]', 'noca, nokey, nopass (empty password), usefn (NAME as friendly name)')
    .action(
      run(async (name: string, given: string[], _opts: unknown, cmd: Command) => {
        const w = words(given, ['noca', 'nokey', 'nopass', 'usefn']);
        const s = settings(cmd);
        let password = '';
        if (!w.has('nopass')) {
          if (s.passoutSpec === undefined) {
            throw new GatehouseError(
              'GH_ERR_PKI_PASSPHRASE',
              ['export-p12 needs the password of the PKCS#12 file'],
              {
                hint: 'give --passout=pass:…|env:VAR|file:PATH (or EASYRSA_PASSOUT), or add nopass for an empty password',
              },
            );
          }
          password = resolvePassSpec(s.passoutSpec, '--passout');
        }
        const file = exportP12(s.pki, name, {
          password,
          ...(s.passinSpec !== undefined ? { passin: resolvePassSpec(s.passinSpec, '--passin') } : {}),
          includeCa: !w.has('noca'),
          includeKey: !w.has('nokey'),
          ...(w.has('usefn') ? { friendlyName: name } : {}),
        });
        out(`PKCS#12 written: ${file} (0600)`);
      }),
    );
}

export function registerExportP7(pki: Command): void {
  pki
    .command('export-p7')
    .description('write issued/NAME.p7b: the certificate and the CA as PEM PKCS#7')
    .argument('<name>', 'the certificate name')
    .argument('[options...]', 'noca')
    .action(
      run(async (name: string, given: string[], _opts: unknown, cmd: Command) => {
        const w = words(given, ['noca', 'nokey', 'nopass', 'usefn']);
        const s = settings(cmd);
        out(`PKCS#7 written: ${exportP7(s.pki, name, { includeCa: !w.has('noca') })}`);
      }),
    );
}

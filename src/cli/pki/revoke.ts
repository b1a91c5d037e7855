// `gatehouse pki revoke` and `gen-crl`: mark a certificate revoked, then publish the CRL.
import { type Command, Option } from 'commander';
import { GatehouseError } from '../../errors.js';
import { genCrl, parseReason, REVOCATION_REASONS, revoke } from '../../pki/index.js';
import { caPassphrase, out, run, settings } from './verb-kit.js';

export function registerRevoke(pki: Command): void {
  pki
    .command('revoke')
    .description(
      'revoke NAME: mark it R in index.txt, move its files to revoked/*_by_serial/, delete its PKCS and inline exports',
    )
    .argument('<name>', 'the name used with build-*-full')
    .argument('[reason]', 'easy-rsa style positional reason (same values as --reason)')
    .addOption(new Option('--reason <reason>', 'CRL reason').choices(Object.keys(REVOCATION_REASONS)))
    .addHelpText('after', '\nThe CRL changes only with `gatehouse pki gen-crl`: run it after revoking.')
    .action(
      run(async (name: string, positional: string | undefined, opts: { reason?: string }, cmd: Command) => {
        if (positional !== undefined && opts.reason !== undefined && positional !== opts.reason) {
          throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [
            `two reasons given: "${positional}" and --reason ${opts.reason}`,
          ]);
        }
        const reasonWord = opts.reason ?? positional;
        const reason = reasonWord === undefined ? undefined : parseReason(reasonWord);
        const r = await revoke(settings(cmd).pki, name, reason === undefined ? {} : { reason });
        out(`revoked ${r.name} (serial ${r.serial}${r.reason ? `, reason ${r.reason}` : ''})`);
        for (const f of r.removed) out(`removed ${f} (made from the revoked key and certificate)`);
        out('next: gatehouse pki gen-crl, then give the new crl.pem to everything that checks clients');
      }),
    );
}

export function registerGenCrl(pki: Command): void {
  pki
    .command('gen-crl')
    .description('write crl.pem (PEM "X509 CRL") from the revoked entries of index.txt')
    .action(
      run(async (_opts: unknown, cmd: Command) => {
        const s = settings(cmd);
        const crl = await genCrl(s.pki, { days: s.crlDays, passin: caPassphrase(s) });
        out(
          `CRL written: ${crl.path} (${crl.revokedCount} revoked, number ${crl.number}, next update ${crl.nextUpdate.toISOString()})`,
        );
      }),
    );
}

// `gatehouse pki list` and `show`: the certificates of index.txt as a table, one certificate in
// full, or either as JSON (the certificate view of src/pki/certificate-view.ts). Never a key.
import type { Command } from 'commander';
import { table } from '../../admin/format.js';
import {
  certificateDetailsView,
  certificateView,
  listCertificates,
  showCertificate,
  type CertDetails,
} from '../../pki/index.js';
import { out, run, settings } from './verb-kit.js';

export function registerList(pki: Command): void {
  pki
    .command('list')
    .description('list the certificates in index.txt with their status (valid, revoked, expired)')
    .option('--json', 'print JSON')
    .action(
      run(async (opts: { json?: boolean }, cmd: Command) => {
        const inv = listCertificates(settings(cmd).pki);
        for (const w of inv.warnings) process.stderr.write(`warning: ${w}\n`);
        if (opts.json) {
          out(
            JSON.stringify(
              inv.records.map((r) => certificateView(r, { file: true })),
              null,
              2,
            ),
          );
          return;
        }
        const rows = inv.records.map((r) => [
          r.status,
          r.name,
          r.serial,
          isoSeconds(r.expires),
          r.revokedAt ? `${isoSeconds(r.revokedAt)}${r.reason ? ` ${r.reason}` : ''}` : '',
        ]);
        process.stdout.write(
          table(['STATUS', 'NAME', 'SERIAL', 'EXPIRES', 'REVOKED'], rows, { noneLine: false }),
        );
      }),
    );
}

export function registerShow(pki: Command): void {
  pki
    .command('show')
    .description('show one certificate (never its key); NAME "ca" shows ca.crt')
    .argument('<name>', 'the name used with build-*-full')
    .option('--json', 'print JSON')
    .option('--pem', 'also print the certificate PEM')
    .action(
      run(async (name: string, opts: { json?: boolean; pem?: boolean }, cmd: Command) => {
        const d = showCertificate(settings(cmd).pki, name);
        if (opts.json) out(JSON.stringify(certificateDetailsView(d, { pem: opts.pem === true }), null, 2));
        else printDetails(d, opts.pem === true);
      }),
    );
}

function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** The certificate view as "key: value" lines, then the PEM if asked. */
function printDetails(d: CertDetails, pem: boolean): void {
  const j = certificateDetailsView(d);
  const rows: [string, string | undefined][] = [
    ['file', j.file],
    ['status', j.status],
    ['profile', j.profile],
    ['subject', j.subject.replace(/\n/g, ', ')],
    ['issuer', j.issuer.replace(/\n/g, ', ')],
    ['serial', j.serial],
    ['not before', j.notBefore],
    ['not after', j.notAfter],
    ['key', j.key],
    ['SAN', j.subjectAltName],
    ['groups', j.groups.length > 0 ? j.groups.join(', ') : undefined],
    ['revoked', j.revokedAt ? `${j.revokedAt}${j.reason ? ` (${j.reason})` : ''}` : undefined],
    ['sha256', j.sha256],
  ];
  for (const [k, v] of rows) if (v !== undefined) out(`${`${k}:`.padEnd(12)}${v}`);
  if (pem) out(d.certificate.toString().trim());
}

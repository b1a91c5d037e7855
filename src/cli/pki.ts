// `gatehouse pki …`: easy-rsa's verbs on an easy-rsa 3 pki/ directory. Parsing and printing only;
// the work is in src/pki/.
import { Command, Option } from 'commander';
import { table } from '../admin/format.js';
import { GatehouseError } from '../errors.js';
import {
  buildCa,
  buildFull,
  certificateDetailsView,
  certificateView,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_CRL_DAYS,
  DEFAULT_KEY_TYPE,
  genCrl,
  initPki,
  KEY_TYPES,
  listCertificates,
  parseKeyType,
  parseReason,
  parseSan,
  pkiLayout,
  resolvePassSpec,
  REVOCATION_REASONS,
  revoke,
  showCertificate,
  type CertDetails,
} from '../pki/index.js';
import { exitCodeFor, printError } from './output.js';

interface GlobalOpts {
  pki: string;
  passin?: string;
  passout?: string;
}

export function registerPki(program: Command): void {
  const pki = program
    .command('pki')
    .description(
      'easy-rsa compatible CA: init-pki, build-ca, build-server-full, build-client-full, revoke, gen-crl, list, show',
    )
    .option('--pki <dir>', 'the PKI directory (easy-rsa 3 layout)', './pki')
    .option(
      '--passin <spec>',
      'passphrase of an encrypted CA key: pass:TEXT, env:VAR or file:PATH (default: $EASYRSA_PASSIN)',
    )
    .option(
      '--passout <spec>',
      'passphrase for a new encrypted key: pass:TEXT, env:VAR or file:PATH (implies --passphrase)',
    )
    .addHelpText(
      'after',
      `
Examples:
  gatehouse pki --pki ./pki init-pki
  gatehouse pki build-ca nopass
  gatehouse pki build-server-full gw.example.com nopass --san DNS:gw.example.com --san IP:10.0.0.5
  gatehouse pki build-client-full alice nopass --group developers --group oncall
  gatehouse pki revoke alice --reason keyCompromise && gatehouse pki gen-crl

Private keys are written unencrypted unless --passphrase (or --passout) is given; "nopass" is accepted
for easy-rsa habits. Nothing prints a private key.`,
    );

  pki
    .command('init-pki')
    .description('create an empty PKI directory (private/ 0700, reqs/)')
    .option('--force', 'delete an existing non-empty directory first, CA key included')
    .action(
      run(async (opts: { force?: boolean }, cmd: Command) => {
        const l = initPki(globals(cmd).pki, { force: opts.force === true });
        out(`init-pki complete: ${l.root}`);
        out('next: gatehouse pki build-ca');
      }),
    );

  withKeyOptions(
    pki
      .command('build-ca')
      .description('create the CA: private/ca.key and ca.crt (easy-rsa "ca" profile)')
      .argument('[nopass]', 'accepted for easy-rsa habits (keys are unencrypted by default)')
      .option('--cn <name>', 'the CA common name', 'Gatehouse CA')
      .addOption(daysOption(DEFAULT_CA_DAYS)),
  ).action(
    run(async (nopass: string | undefined, opts: KeyOpts & { cn: string; days: string }, cmd: Command) => {
      checkNopass(nopass);
      const g = globals(cmd);
      const cert = await buildCa(g.pki, {
        commonName: opts.cn,
        days: parseDays(opts.days),
        keyType: parseKeyType(opts.keyType),
        passout: newKeyPassphrase(opts, g, nopass),
        onProgress: progress,
      });
      const l = pkiLayout(g.pki);
      out(`CA created: ${l.caCrt} (subject ${cert.subject.replace(/\n/g, ', ')}, expires ${cert.validTo})`);
      out(`CA key:     ${l.caKey} (0600)`);
    }),
  );

  for (const profile of ['server', 'client'] as const) {
    const cmd = withKeyOptions(
      pki
        .command(`build-${profile}-full`)
        .description(
          `create a key, request and ${profile} certificate signed by the CA (easy-rsa "${profile}" profile)`,
        )
        .argument('<name>', 'file name base and certificate CN')
        .argument('[nopass]', 'accepted for easy-rsa habits (keys are unencrypted by default)')
        .addOption(daysOption(DEFAULT_CERT_DAYS))
        .option(
          '--san <entry>',
          profile === 'server'
            ? 'subjectAltName DNS:name or IP:address, repeatable (default DNS:NAME, as easy-rsa 3.1)'
            : 'subjectAltName DNS:name or IP:address, repeatable',
          collect,
          [],
        ),
    );
    if (profile === 'client') {
      cmd.option(
        '--group <group>',
        'a group the access endpoints grant this client, repeatable',
        collect,
        [],
      );
    }
    cmd.action(
      run(
        async (
          name: string,
          nopass: string | undefined,
          opts: KeyOpts & { days: string; san: string[]; group?: string[] },
          c: Command,
        ) => {
          checkNopass(nopass);
          const g = globals(c);
          const issued = await buildFull(g.pki, profile, name, {
            days: parseDays(opts.days),
            keyType: parseKeyType(opts.keyType),
            sans: opts.san.map(parseSan),
            groups: opts.group ?? [],
            passin: caPassphrase(g),
            passout: newKeyPassphrase(opts, g, nopass),
            onProgress: progress,
          });
          out(
            `certificate: ${issued.files.cert} (serial ${issued.serial}, expires ${issued.certificate.validTo})`,
          );
          out(`key:         ${issued.files.key} (0600)`);
          out(`request:     ${issued.files.req}`);
          if (opts.group && opts.group.length > 0) out(`groups:      ${opts.group.join(', ')}`);
        },
      ),
    );
  }

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
        const r = await revoke(globals(cmd).pki, name, reason === undefined ? {} : { reason });
        out(`revoked ${r.name} (serial ${r.serial}${r.reason ? `, reason ${r.reason}` : ''})`);
        for (const f of r.removed) out(`removed ${f} (made from the revoked key and certificate)`);
        out('next: gatehouse pki gen-crl, then give the new crl.pem to everything that checks clients');
      }),
    );

  pki
    .command('gen-crl')
    .description('write crl.pem (PEM "X509 CRL") from the revoked entries of index.txt')
    .addOption(daysOption(DEFAULT_CRL_DAYS, "days until the CRL's next update"))
    .action(
      run(async (opts: { days: string }, cmd: Command) => {
        const g = globals(cmd);
        const crl = await genCrl(g.pki, { days: parseDays(opts.days), passin: caPassphrase(g) });
        out(
          `CRL written: ${crl.path} (${crl.revokedCount} revoked, number ${crl.number}, next update ${crl.nextUpdate.toISOString()})`,
        );
      }),
    );

  pki
    .command('list')
    .description('list the certificates in index.txt with their status (valid, revoked, expired)')
    .option('--json', 'print JSON')
    .action(
      run(async (opts: { json?: boolean }, cmd: Command) => {
        const inv = listCertificates(globals(cmd).pki);
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

  pki
    .command('show')
    .description('show one certificate (never its key); NAME "ca" shows ca.crt')
    .argument('<name>', 'the name used with build-*-full')
    .option('--json', 'print JSON')
    .option('--pem', 'also print the certificate PEM')
    .action(
      run(async (name: string, opts: { json?: boolean; pem?: boolean }, cmd: Command) => {
        const d = showCertificate(globals(cmd).pki, name);
        if (opts.json) out(JSON.stringify(certificateDetailsView(d, { pem: opts.pem === true }), null, 2));
        else printDetails(d, opts.pem === true);
      }),
    );
}

interface KeyOpts {
  keyType: string;
  passphrase?: boolean;
}

function withKeyOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--key-type <type>', 'private key type').choices([...KEY_TYPES]).default(DEFAULT_KEY_TYPE),
    )
    .option('--passphrase', 'encrypt the new private key (passphrase from --passout or $EASYRSA_PASSOUT)');
}

function daysOption(def: number, what = 'validity in days'): Option {
  return new Option('--days <n>', `${what} (easy-rsa default)`).default(String(def));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals<GlobalOpts>();
}

function checkNopass(word: string | undefined): void {
  if (word !== undefined && word !== 'nopass') {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unexpected argument "${word}"`], {
      hint: 'the only word accepted after the name is "nopass"',
    });
  }
}

function parseDays(s: string): number {
  if (!/^\d+$/.test(s)) throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad --days "${s}"`]);
  return Number(s);
}

/** The CA key's passphrase: --passin, else $EASYRSA_PASSIN (both in OpenSSL's pass-phrase syntax). */
function caPassphrase(g: GlobalOpts): string | undefined {
  const spec = g.passin ?? process.env.EASYRSA_PASSIN;
  return spec === undefined || spec === '' ? undefined : resolvePassSpec(spec, '--passin');
}

/** The passphrase for a new key, or undefined for an unencrypted key (the default). */
function newKeyPassphrase(opts: KeyOpts, g: GlobalOpts, nopass: string | undefined): string | undefined {
  const wanted = opts.passphrase === true || g.passout !== undefined;
  if (!wanted) return undefined;
  if (nopass !== undefined) {
    throw new GatehouseError(
      'GH_ERR_PKI_BAD_INPUT',
      ['"nopass" and --passphrase/--passout contradict each other'],
      {
        hint: 'drop one of them',
      },
    );
  }
  const spec = g.passout ?? process.env.EASYRSA_PASSOUT;
  if (spec === undefined || spec === '') {
    throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', ['--passphrase needs a passphrase source'], {
      hint: 'add --passout pass:…|env:VAR|file:PATH (or set EASYRSA_PASSOUT)',
    });
  }
  return resolvePassSpec(spec, '--passout');
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes positional args then (opts, cmd)
function run<A extends any[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      printError(err);
      process.exitCode = exitCodeFor(err);
    }
  };
}

function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

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

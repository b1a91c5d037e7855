// `gatehouse pki build-ca`, `build-server-full` and `build-client-full`: the verbs that make a key
// and its certificate (easy-rsa's "ca", "server" and "client" profiles), and the options of a new
// key they share (--key-type, --passphrase, "nopass").
import { type Command, Option } from 'commander';
import { GatehouseError } from '../../errors.js';
import {
  buildCa,
  buildFull,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_KEY_TYPE,
  KEY_TYPES,
  parseKeyType,
  parseSan,
  pkiLayout,
  resolvePassSpec,
} from '../../pki/index.js';
import { caPassphrase, daysOption, globals, type GlobalOpts, out, parseDays, run } from './verb-kit.js';

export function registerBuildCa(pki: Command): void {
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
}

export function registerBuildFull(pki: Command, profile: 'server' | 'client'): void {
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
    cmd.option('--group <group>', 'a group the access endpoints grant this client, repeatable', collect, []);
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

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The optional word after the name: only "nopass", accepted for easy-rsa habits. */
function checkNopass(word: string | undefined): void {
  if (word !== undefined && word !== 'nopass') {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unexpected argument "${word}"`], {
      hint: 'the only word accepted after the name is "nopass"',
    });
  }
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

/** Key generation progress, on stderr. */
function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

// `gatehouse pki build-ca` and `build-server-full` / `build-client-full` / `build-serverClient-full`:
// the verbs that make a key and its certificate (easy-rsa's "ca", "server", "client" and
// "serverClient" profiles), and the options of a new key they share (--key-type, --passphrase).
import { type Command, Option } from 'commander';
import { GatehouseError } from '../../errors.js';
import {
  buildCa,
  buildFull,
  DEFAULT_CA_CN,
  KEY_TYPES,
  type KeyType,
  type LeafProfile,
  parseKeyType,
  pkiLayout,
} from '../../pki/index.js';
import {
  caPassphrase,
  newKeyPassphrase,
  out,
  progress,
  run,
  settings,
  type Settings,
  words,
} from './verb-kit.js';

export function registerBuildCa(pki: Command): void {
  withKeyOptions(
    pki
      .command('build-ca')
      .description('create the CA: private/ca.key and ca.crt (easy-rsa "ca" profile)')
      .argument('[options...]', 'nopass (keys are unencrypted unless --passout is given)')
      .option(
        '--cn <name>',
        `the CA common name (default: --req-cn / EASYRSA_REQ_CN, else "${DEFAULT_CA_CN}")`,
      ),
  ).action(
    run(async (given: string[], opts: KeyOpts & { cn?: string }, cmd: Command) => {
      const w = words(given, ['nopass', 'subca', 'intca']);
      if (w.has('subca') || w.has('intca')) {
        throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['a sub-CA (build-ca subca) is not supported'], {
          hint: 'make the intermediate CA with easy-rsa, or use a root CA made by build-ca',
        });
      }
      const s = settings(cmd);
      const cert = await buildCa(s.pki, {
        commonName: opts.cn ?? s.reqCn ?? DEFAULT_CA_CN,
        dn: s.dn,
        sans: s.sans,
        digest: s.digest,
        days: s.caDays,
        keyType: keyType(opts, s),
        passout: newKeyPassphrase(s, w.has('nopass'), opts.passphrase === true),
        onProgress: progress,
      });
      const l = pkiLayout(s.pki);
      out(`CA created: ${l.caCrt} (subject ${cert.subject.replace(/\n/g, ', ')}, expires ${cert.validTo})`);
      out(`CA key:     ${l.caKey} (0600)`);
    }),
  );
}

export function registerBuildFull(pki: Command, profile: LeafProfile): void {
  const cmd = withKeyOptions(
    pki
      .command(`build-${profile}-full`)
      .description(
        `create a key, request and ${profile} certificate signed by the CA (easy-rsa "${profile}" profile)`,
      )
      .argument('<name>', 'file name base and certificate CN')
      .argument('[options...]', 'nopass (keys are unencrypted unless --passout is given)'),
  );
  if (profile === 'client') {
    cmd.option('--group <group>', 'a group the access endpoints grant this client, repeatable', collect, []);
  }
  cmd.action(
    run(async (name: string, given: string[], opts: KeyOpts & { group?: string[] }, c: Command) => {
      const w = words(given, ['nopass', 'inline']);
      const s = settings(c);
      if (s.reqCn !== undefined) {
        // easy-rsa: "Option conflict: 'build-…-full' does not support setting an external commonName".
        throw new GatehouseError(
          'GH_ERR_PKI_BAD_INPUT',
          [`build-${profile}-full takes its CN from NAME, not --req-cn`],
          {
            hint: 'drop --req-cn / EASYRSA_REQ_CN, or use gen-req --batch then sign-req',
          },
        );
      }
      const issued = await buildFull(s.pki, profile, name, {
        days: s.certDays,
        keyType: keyType(opts, s),
        dn: s.dn,
        sans: s.sans,
        groups: opts.group ?? [],
        digest: s.digest,
        passin: caPassphrase(s),
        passout: newKeyPassphrase(s, w.has('nopass'), opts.passphrase === true),
        onProgress: progress,
      });
      out(
        `certificate: ${issued.files.cert} (serial ${issued.serial}, expires ${issued.certificate.validTo})`,
      );
      out(`key:         ${issued.files.key} (0600)`);
      out(`request:     ${issued.files.req}`);
      if (opts.group && opts.group.length > 0) out(`groups:      ${opts.group.join(', ')}`);
    }),
  );
}

export interface KeyOpts {
  keyType?: string;
  passphrase?: boolean;
}

export function withKeyOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--key-type <type>',
        'private key type (default: from --use-algo/--curve/--keysize, else ec-p256)',
      ).choices([...KEY_TYPES]),
    )
    .option('--passphrase', 'encrypt the new private key (passphrase from --passout or $EASYRSA_PASSOUT)');
}

/** --key-type when given, else what easy-rsa's settings ask for. */
export function keyType(opts: KeyOpts, s: Settings): KeyType {
  return opts.keyType === undefined ? s.keyType : parseKeyType(opts.keyType);
}

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// `gatehouse pki …`: easy-rsa's verbs on an easy-rsa 3 pki/ directory. This file is the `pki`
// command (its options and help) and wires the verbs, one file per verb group; parsing and printing
// only, the work is in src/pki/.
import type { Command } from 'commander';
import { registerBuildCa, registerBuildFull } from './build.js';
import { registerInitPki } from './init-pki.js';
import { registerList, registerShow } from './inspect.js';
import { registerBuildLoginCa } from './login-ca.js';
import { registerGenCrl, registerRevoke } from './revoke.js';

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

  // The order here is the order of `gatehouse pki --help`.
  registerInitPki(pki);
  registerBuildCa(pki);
  registerBuildFull(pki, 'server');
  registerBuildFull(pki, 'client');
  registerRevoke(pki);
  registerGenCrl(pki);
  registerList(pki);
  registerShow(pki);
  registerBuildLoginCa(pki);
}

// `gatehouse pki show-req`, `show-cert`, `show-ca` and `show-crl`: a request, certificate, the CA
// or the CRL as text, in the layout of easy-rsa's show-* (see src/pki/show-text.ts). Never a key.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { GatehouseError } from '../../errors.js';
import { certificateText, crlText, pkiLayout, requestText } from '../../pki/index.js';
import { run, settings, type Settings, words } from './verb-kit.js';

type Kind = 'req' | 'cert' | 'ca' | 'crl';

export function registerShowReq(pki: Command): void {
  registerShowNamed(pki, 'req', 'show-req', 'show reqs/NAME.req');
}

export function registerShowCert(pki: Command): void {
  registerShowNamed(pki, 'cert', 'show-cert', 'show issued/NAME.crt');
}

function registerShowNamed(pki: Command, kind: Kind, verb: string, description: string): void {
  pki
    .command(verb)
    .description(description)
    .argument('<name>', 'the file name base')
    .argument('[options...]', 'full (also print the PEM)')
    .action(
      run(async (name: string, given: string[], _opts: unknown, cmd: Command) => {
        show(settings(cmd), kind, name, words(given, ['full']).has('full'));
      }),
    );
}

export function registerShowCa(pki: Command): void {
  pki
    .command('show-ca')
    .description('show ca.crt')
    .argument('[options...]', 'full (also print the PEM)')
    .action(
      run(async (given: string[], _opts: unknown, cmd: Command) => {
        show(settings(cmd), 'ca', 'ca', words(given, ['full']).has('full'));
      }),
    );
}

export function registerShowCrl(pki: Command): void {
  pki
    .command('show-crl')
    .description('show crl.pem')
    .action(
      run(async (_opts: unknown, cmd: Command) => {
        show(settings(cmd), 'crl', 'crl', false);
      }),
    );
}

function show(s: Settings, kind: Kind, name: string, full: boolean): void {
  const l = pkiLayout(s.pki);
  if (/[/\\\0]/.test(name) || name === '' || name === '..') {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad name "${name}"`]);
  }
  const file = { req: l.req(name), cert: l.issued(name), ca: l.caCrt, crl: l.crl }[kind];
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError(
      'GH_ERR_PKI_BAD_INPUT',
      [`no ${kind} file named "${name}": ${file} is missing`],
      {
        cause: err,
        hint: kind === 'crl' ? 'run gen-crl first' : 'see `gatehouse pki list` for the names',
      },
    );
  }
  let body: string;
  try {
    body =
      kind === 'req' ? requestText(text, full) : kind === 'crl' ? crlText(text) : certificateText(text, full);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${file} is not a valid ${kind} file`], { cause: err });
  }
  // easy-rsa's notice before the dump, left out under --batch and --silent as easy-rsa does.
  if (!s.batch && !s.silent) {
    process.stdout.write(
      `\n  Showing ${kind} details for '${name}'.\n  This file is stored at:\n  * ${file}\n\n`,
    );
  }
  process.stdout.write(body);
}

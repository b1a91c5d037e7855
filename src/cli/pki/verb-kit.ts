// What the `gatehouse pki` verbs share: easy-rsa's global options as the `pki` command holds them
// (before or after the verb), resolved with the environment and the vars file into easy-rsa's
// settings (command line > environment > vars > defaults, see src/pki/easyrsa-vars.ts), the
// passphrases, and how a verb runs and prints.
import type { Command } from 'commander';
import {
  type EasyRsaSettings,
  parseSanList,
  resolveEasyRsaSettings,
  resolvePassSpec,
  type SanEntry,
} from '../../pki/index.js';
import { GatehouseError } from '../../errors.js';
import { exitCodeFor, printError } from '../output.js';

/** The options of `gatehouse pki` itself (easy-rsa's global options), as commander names them. */
export interface GlobalOpts {
  pki?: string;
  pkiDir?: string;
  batch?: boolean;
  silent?: boolean;
  silentBatch?: boolean;
  sbatch?: boolean;
  days?: string;
  renewDays?: string;
  san?: string[];
  subjectAltName?: string[];
  reqCn?: string;
  useAlgo?: string;
  curve?: string;
  keysize?: string;
  digest?: string;
  dnMode?: string;
  reqC?: string;
  reqSt?: string;
  reqCity?: string;
  reqOrg?: string;
  reqEmail?: string;
  reqOu?: string;
  passin?: string;
  passout?: string;
  vars?: string;
  copyExt?: boolean;
}

/** Each option and the easy-rsa variable it sets (easyrsa's own option loop). */
const OPTION_VARS: [keyof GlobalOpts, string[]][] = [
  ['pki', ['EASYRSA_PKI']],
  ['pkiDir', ['EASYRSA_PKI']],
  ['days', ['EASYRSA_CERT_EXPIRE', 'EASYRSA_CA_EXPIRE', 'EASYRSA_CRL_DAYS']],
  ['renewDays', ['EASYRSA_CERT_RENEW']],
  ['reqCn', ['EASYRSA_REQ_CN']],
  ['useAlgo', ['EASYRSA_ALGO']],
  ['curve', ['EASYRSA_CURVE']],
  ['keysize', ['EASYRSA_KEY_SIZE']],
  ['digest', ['EASYRSA_DIGEST']],
  ['dnMode', ['EASYRSA_DN']],
  ['reqC', ['EASYRSA_REQ_COUNTRY']],
  ['reqSt', ['EASYRSA_REQ_PROVINCE']],
  ['reqCity', ['EASYRSA_REQ_CITY']],
  ['reqOrg', ['EASYRSA_REQ_ORG']],
  ['reqEmail', ['EASYRSA_REQ_EMAIL']],
  ['reqOu', ['EASYRSA_REQ_OU']],
  ['vars', ['EASYRSA_VARS_FILE']],
];

export function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals<GlobalOpts>();
}

/** easy-rsa's settings for this run, plus what only the command line gives. */
export interface Settings extends EasyRsaSettings {
  /** --san / --subject-alt-name entries (several options add up). */
  readonly sans: readonly SanEntry[];
  readonly copyExt: boolean;
  readonly passinSpec: string | undefined;
  readonly passoutSpec: string | undefined;
}

/** Resolves the settings; `readVars` is false for init-pki (easy-rsa reads no vars file for it). */
export function settings(cmd: Command, { readVars = true } = {}): Settings {
  const g = globals(cmd);
  const cli: Record<string, string> = {};
  for (const [opt, names] of OPTION_VARS) {
    const v = g[opt];
    if (typeof v === 'string') for (const n of names) cli[n] = v;
  }
  if (g.batch || g.silentBatch || g.sbatch) cli.EASYRSA_BATCH = '1';
  if (g.silent || g.silentBatch || g.sbatch) cli.EASYRSA_SILENT = '1';
  const s = resolveEasyRsaSettings({ cli, env: process.env, cwd: process.cwd(), readVars });
  if (!s.silent) for (const w of s.warnings) process.stderr.write(`warning: ${w}\n`);
  const sans = [...(g.san ?? []), ...(g.subjectAltName ?? [])].flatMap(parseSanList);
  const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  return {
    ...s,
    sans,
    copyExt: g.copyExt === true,
    passinSpec: nonEmpty(g.passin) ?? nonEmpty(s.vars.get('EASYRSA_PASSIN')),
    passoutSpec: nonEmpty(g.passout) ?? nonEmpty(s.vars.get('EASYRSA_PASSOUT')),
  };
}

/** The CA key's passphrase: --passin, else $EASYRSA_PASSIN (both in OpenSSL's pass-phrase syntax). */
export function caPassphrase(s: Settings): string | undefined {
  return s.passinSpec === undefined ? undefined : resolvePassSpec(s.passinSpec, '--passin');
}

/** A verb's action: an error is printed (code, message, next step) and sets the exit status. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes positional args then (opts, cmd)
export function run<A extends any[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      printError(err);
      process.exitCode = exitCodeFor(err);
    }
  };
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** easy-rsa's words after the name (nopass, noca, …): known ones are returned, others warned about and ignored, as easy-rsa does. */
export function words(given: readonly string[], known: readonly string[]): Set<string> {
  const seen = new Set<string>();
  for (const w of given) {
    if (known.includes(w)) seen.add(w);
    else process.stderr.write(`warning: ignoring unknown command option "${w}" (as easy-rsa does)\n`);
  }
  return seen;
}

/** Key generation progress, on stderr. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * The passphrase for a new key, or undefined for an unencrypted key. "nopass" wins over
 * --passout / $EASYRSA_PASSOUT, as with easy-rsa (openssl -nodes ignores -passout); without
 * either, Gatehouse writes the key unencrypted where easy-rsa would prompt for a passphrase.
 */
export function newKeyPassphrase(s: Settings, nopass: boolean, passphraseFlag = false): string | undefined {
  if (nopass) {
    if (passphraseFlag) {
      throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['"nopass" and --passphrase contradict each other'], {
        hint: 'drop one of them',
      });
    }
    return undefined;
  }
  if (s.passoutSpec !== undefined) return resolvePassSpec(s.passoutSpec, '--passout');
  if (passphraseFlag) {
    throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', ['--passphrase needs a passphrase source'], {
      hint: 'add --passout=pass:…|env:VAR|file:PATH (or set EASYRSA_PASSOUT)',
    });
  }
  return undefined;
}

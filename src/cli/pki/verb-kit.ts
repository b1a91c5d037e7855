// What the `gatehouse pki` verbs share: the group's options (--pki, --passin, --passout) as a verb
// reads them, --days, the CA key's passphrase, and how a verb runs and prints.
import { type Command, Option } from 'commander';
import { GatehouseError } from '../../errors.js';
import { resolvePassSpec } from '../../pki/index.js';
import { exitCodeFor, printError } from '../output.js';

/** The options of `gatehouse pki` itself, given before or after the verb. */
export interface GlobalOpts {
  pki: string;
  passin?: string;
  passout?: string;
}

export function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals<GlobalOpts>();
}

export function daysOption(def: number, what = 'validity in days'): Option {
  return new Option('--days <n>', `${what} (easy-rsa default)`).default(String(def));
}

export function parseDays(s: string): number {
  if (!/^\d+$/.test(s)) throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad --days "${s}"`]);
  return Number(s);
}

/** The CA key's passphrase: --passin, else $EASYRSA_PASSIN (both in OpenSSL's pass-phrase syntax). */
export function caPassphrase(g: GlobalOpts): string | undefined {
  const spec = g.passin ?? process.env.EASYRSA_PASSIN;
  return spec === undefined || spec === '' ? undefined : resolvePassSpec(spec, '--passin');
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

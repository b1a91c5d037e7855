// Human output helpers: the only place errors are turned into text for a terminal.
import { isGatehouseError } from '../errors.js';

export function printError(err: unknown): void {
  if (isGatehouseError(err)) {
    for (const line of err.details) process.stderr.write(`${line}\n`);
    process.stderr.write(`error ${err.code}: ${err.message}\n  next: ${err.hint}\n`);
    return;
  }
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
}

/** An error as --json prints it on stdout: the admin API's shape ({ error: { code, message, hint, details } }). */
export function printJsonError(err: unknown): void {
  const e = isGatehouseError(err)
    ? {
        code: err.code,
        message: err.message,
        hint: err.hint,
        ...(err.details.length ? { details: err.details } : {}),
      }
    : { message: err instanceof Error ? err.message : String(err) };
  process.stdout.write(JSON.stringify({ error: e }, null, 2) + '\n');
}

/** Bad usage (commander's errors included: a missing or unknown option) and a bad config. */
export const EXIT_USAGE = 2;

/** What every command's exit status means; `--help` of each says the same. */
export const EXIT_STATUS_HELP =
  'Exit status: 0 success (allowed, valid, done), 1 a refusal or failure (denied, no such listener or session, daemon unreachable), 2 bad usage or an invalid config (a missing or unknown option, a bad value).';

/** Exit status for an error: 2 for bad input (config, usage), 1 for anything else. */
export function exitCodeFor(err: unknown): number {
  if (
    isGatehouseError(err) &&
    ['GH_ERR_CONFIG_INVALID', 'GH_ERR_CONFIG_READ', 'GH_ERR_USAGE'].includes(err.code)
  )
    return EXIT_USAGE;
  return 1;
}

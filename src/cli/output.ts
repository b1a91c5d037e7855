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

/** Exit status for an error: 2 for bad input (config, usage), 1 for anything else. */
export function exitCodeFor(err: unknown): number {
  if (
    isGatehouseError(err) &&
    ['GH_ERR_CONFIG_INVALID', 'GH_ERR_CONFIG_READ', 'GH_ERR_USAGE'].includes(err.code)
  )
    return 2;
  return 1;
}

// A client of the admin API of a running daemon: where it is, which token it takes, and one call
// that maps an error answer back to a GatehouseError with the daemon's code. Used by the CLI verbs.
import fs from 'node:fs';
import { loadConfig } from '../config/load.js';
import { ERRORS, GatehouseError, type ErrorCode } from '../errors.js';
import { formatHostPort } from '../net/address.js';
import { tokenFileFor } from './token.js';

export interface AdminFlags {
  readonly config?: string | undefined;
  readonly admin?: string | undefined;
  readonly token?: string | undefined;
}

export interface Target {
  readonly url: string;
  readonly token: string | undefined;
  /** Where the URL came from, for `--verbose` and for errors: "--admin", "admin.listen of FILE"… */
  readonly via: string;
  /** The config file read, if one was. */
  readonly config?: string;
}

/**
 * Where the admin API is and which token it takes: flags, then environment, then the config (-c,
 * or ./gatehouse.yaml). With none of them there is nothing to go on: GH_ERR_ADMIN_TARGET, rather
 * than a guess at 127.0.0.1:9480 that may be another daemon's.
 */
export function adminTarget(opts: AdminFlags, env: NodeJS.ProcessEnv = process.env): Target {
  const configPath = opts.config ?? (fs.existsSync('gatehouse.yaml') ? 'gatehouse.yaml' : undefined);
  const loaded = configPath ? loadConfig(configPath) : undefined;
  let url = opts.admin ?? env.GATEHOUSE_ADMIN_URL;
  let via = opts.admin ? '--admin' : url ? 'GATEHOUSE_ADMIN_URL' : '';
  if (!url && loaded) {
    const l = loaded.config.admin.listen;
    const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
    url = `http://${formatHostPort(host, l.port)}`;
    via = `admin.listen of ${configPath}`;
  }
  if (!url)
    throw new GatehouseError('GH_ERR_ADMIN_TARGET', [
      'no -c FILE, no ./gatehouse.yaml in this directory, no --admin URL and no GATEHOUSE_ADMIN_URL',
    ]);
  url = url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) url = `http://${url}`;
  let token = opts.token ?? env.GATEHOUSE_ADMIN_TOKEN;
  if (!token && loaded) {
    token = loaded.config.admin.token;
    const file = tokenFileFor(loaded);
    if (!token && fs.existsSync(file)) token = fs.readFileSync(file, 'utf8').trim();
  }
  return { url, token, via, ...(configPath ? { config: configPath } : {}) };
}

export async function adminCall(t: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      method,
      headers: {
        ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new GatehouseError('GH_ERR_ADMIN_UNREACHABLE', [
      `${t.url} (${t.via})`,
      cause?.code ?? cause?.message ?? (err as Error).message,
    ]);
  }
  const value = (await res.json().catch(() => ({}))) as {
    error?: { code?: string; message?: string; hint?: string; problems?: string[]; details?: string[] };
  };
  if (!res.ok) {
    const e = value.error ?? { message: `HTTP ${res.status}` };
    const code: ErrorCode = e.code && e.code in ERRORS ? (e.code as ErrorCode) : 'GH_ERR_ADMIN_BAD_REQUEST';
    const err = new GatehouseError(code, [], {
      ...(e.hint ? { hint: e.hint } : {}),
      details: [...(e.problems ?? []), ...(e.details ?? [])],
    });
    // The daemon's message already has its values filled in.
    err.message = e.message ?? err.message;
    throw err;
  }
  return value;
}

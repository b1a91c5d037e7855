// The admin token: admin.token, or the file admin.tokenFile names, or (neither given) a random one
// kept in gatehouse-admin.token next to the config, mode 0600, reused across restarts. The token
// itself is never logged; only the file's path is.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';

export const GENERATED_TOKEN_FILE = 'gatehouse-admin.token';
const MIN_LENGTH = 16;

export interface ResolvedToken {
  readonly token: string;
  readonly file?: string;
  readonly generated: boolean;
}

function readToken(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_ERR_ADMIN_TOKEN', [file, (err as Error).message], { cause: err });
  }
  const token = text.trim();
  if (token.length < MIN_LENGTH)
    throw new GatehouseError('GH_ERR_ADMIN_TOKEN', [
      file,
      `the token has fewer than ${MIN_LENGTH} characters`,
    ]);
  return token;
}

/** Where the token of a config lives when it is not inline: tokenFile, or the generated file. */
export function tokenFileFor(loaded: LoadedConfig): string {
  const { tokenFile } = loaded.config.admin;
  return path.resolve(loaded.baseDir, tokenFile ?? GENERATED_TOKEN_FILE);
}

export function resolveAdminToken(loaded: LoadedConfig): ResolvedToken {
  const admin = loaded.config.admin;
  if (admin.token !== undefined) return { token: admin.token, generated: false };
  const file = tokenFileFor(loaded);
  if (admin.tokenFile !== undefined) return { token: readToken(file), file, generated: false };
  if (fs.existsSync(file)) {
    try {
      return { token: readToken(file), file, generated: false };
    } catch {
      // unreadable or short: replaced below
    }
  }
  const token = randomBytes(24).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return { token, file, generated: true };
}

/** Constant-time comparison (hashes first, so lengths do not leak either). */
export function tokenMatches(given: string, expected: string): boolean {
  if (expected === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

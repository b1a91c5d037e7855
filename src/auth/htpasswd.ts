// htpasswd files as Apache's `htpasswd` writes them: bcrypt (-B, "$2y$"), APR1-MD5 (-m, the
// default, "$apr1$") and SHA1 (-s, "{SHA}"). Crypt(3) and plain text are refused with a warning
// at FILE:LINE. Parsing is pure; verification is async (bcrypt is slow on purpose) and remembers
// a success for the same user, password and hash so a keep-alive client costs one bcrypt, not one
// per request. Passwords are never stored in the clear: the memo keys are SHA-256 digests.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import bcrypt from 'bcryptjs';

// apache-md5 is CommonJS (module.exports = fn) while its typings claim a default export.
const apacheMd5 = createRequire(import.meta.url)('apache-md5') as (password: string, salt?: string) => string;

export type HashScheme = 'bcrypt' | 'apr1' | 'sha1';

export interface HtpasswdEntry {
  readonly user: string;
  readonly hash: string;
  readonly scheme: HashScheme;
  readonly where: string;
}

export interface Htpasswd {
  readonly file: string;
  readonly users: ReadonlyMap<string, HtpasswdEntry>;
  readonly warnings: readonly string[];
}

const MAX_LINE = 4096;

function schemeOf(hash: string): HashScheme | undefined {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}$/.test(hash)) return 'apr1';
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return 'sha1';
  return undefined;
}

export function parseHtpasswd(text: string, file: string): Htpasswd {
  const users = new Map<string, HtpasswdEntry>();
  const warnings: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    if (raw.length > MAX_LINE) {
      warnings.push(`${where}: warning: line longer than ${MAX_LINE} characters skipped`);
      return;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      warnings.push(`${where}: warning: not "user:hash"; line skipped`);
      return;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const scheme = schemeOf(hash);
    if (!scheme) {
      warnings.push(
        `${where}: warning: user "${user}" has a hash Gatehouse does not accept (crypt or plain text); re-create it with \`htpasswd -B\``,
      );
      return;
    }
    if (users.has(user)) {
      warnings.push(
        `${where}: warning: user "${user}" repeats ${users.get(user)!.where}; the first one counts`,
      );
      return;
    }
    users.set(user, Object.freeze({ user, hash, scheme, where }));
  });
  return Object.freeze({ file, users, warnings });
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function verifyHash(entry: HtpasswdEntry, password: string): Promise<boolean> {
  switch (entry.scheme) {
    case 'bcrypt':
      // bcryptjs knows $2a$/$2b$; Apache's $2y$ is the same algorithm.
      return bcrypt.compare(password, entry.hash.replace(/^\$2y\$/, '$2b$'));
    case 'apr1':
      // apache-md5 hashes 'binary' strings; htpasswd hashes the UTF-8 bytes: hand it those bytes.
      return sameText(apacheMd5(Buffer.from(password, 'utf8').toString('latin1'), entry.hash), entry.hash);
    case 'sha1':
      return sameText(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, entry.hash);
  }
}

/** Verifies Basic credentials against the current file, with a bounded memo of successes. */
export class HtpasswdVerifier {
  private readonly memo = new Map<string, true>();
  constructor(
    readonly file: Htpasswd,
    private readonly maxMemo = 10_000,
  ) {}

  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.file.users.get(user);
    if (!entry) return false;
    const key = createHash('sha256').update(`${user}\0${password}\0${entry.hash}`).digest('base64');
    if (this.memo.has(key)) return true;
    const ok = await verifyHash(entry, password);
    if (ok) {
      if (this.memo.size >= this.maxMemo) this.memo.delete(this.memo.keys().next().value!);
      this.memo.set(key, true);
    }
    return ok;
  }
}

/** Basic credentials from a Proxy-Authorization value, or undefined when absent or malformed. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header || header.length > 4096) return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

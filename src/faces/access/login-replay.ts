// Each ID token is taken once. The record of used tokens is a directory of empty-ish files, one per
// token (named by a digest of its `jti`, or of the whole token when it has none), created with
// O_EXCL: every worker process of this host, and a restarted daemon, sees the same record, and two
// logins racing with one token cannot both win. A file holds the token's expiry and is removed
// once that has passed (the token is refused as expired from then on anyway).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const PRUNE_EVERY_MS = 60_000;

export class UsedTokens {
  private lastPrune = 0;

  constructor(private readonly dir: string) {}

  /** True the first time a token is seen; false for a replay. Throws when the record cannot be written. */
  claim(token: { jti?: unknown; raw: string; exp: number }): boolean {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.prune();
    const id = typeof token.jti === 'string' && token.jti !== '' ? `jti:${token.jti}` : `token:${token.raw}`;
    const file = path.join(this.dir, createHash('sha256').update(id).digest('hex'));
    try {
      fs.writeFileSync(file, `${token.exp}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    for (const name of fs.readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      try {
        const exp = Number(fs.readFileSync(file, 'utf8').trim());
        // A minute past expiry, beyond the clock tolerance a token check allows.
        if (Number.isFinite(exp) && exp * 1000 + 120_000 < now) fs.rmSync(file, { force: true });
      } catch {
        // another process pruned it first
      }
    }
  }
}

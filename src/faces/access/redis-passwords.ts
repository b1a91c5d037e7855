// The password files of the direct listeners' `redisUsers`: read whole, then swapped in (a node
// connection logs in with the old password or the new one, never half of either); a file that
// cannot be read, or is empty, leaves the last good password in force and is logged. Watched
// through their directory and a stat poll (config/watch.ts), as the CRL is, so `mv`, editors and
// Secret volume swaps are seen without a reload.
import fs from 'node:fs';
import type { Logger } from 'pino';
import { watchFile, type FileWatcher } from '../../config/watch.js';
import { GatehouseError } from '../../errors.js';

const MAX_FILE = 64 * 1024;

function readPassword(file: string): string {
  const st = fs.statSync(file);
  if (st.size > MAX_FILE) throw new Error(`larger than ${MAX_FILE} bytes`);
  // One trailing line break is the editor's, not the password's.
  const text = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (text.length === 0) throw new Error('it is empty');
  if (/[\r\n]/.test(text)) throw new Error('it holds more than one line');
  return text;
}

export class RedisPasswords {
  private readonly passwords = new Map<string, string>();
  private readonly watchers = new Map<string, FileWatcher>();
  private log: Logger | undefined;

  /** The password in force for a file (an absolute path), or undefined when none ever loaded. */
  get(file: string): string | undefined {
    return this.passwords.get(file);
  }

  private load(file: string): void {
    try {
      const pw = readPassword(file);
      const changed = this.passwords.has(file) && this.passwords.get(file) !== pw;
      this.passwords.set(file, pw);
      if (changed) this.log?.info({ file }, 'Redis user password file reloaded');
    } catch (err) {
      const kept = this.passwords.has(file);
      const e = new GatehouseError('GH_ERR_REDIS_PASSWORD_FILE', [file, (err as Error).message], {
        cause: err,
      });
      this.log?.error(
        { err: e, file, code: e.code, hint: e.hint },
        `${e.message}; ${kept ? 'the last good password stays in force' : 'clients of its user are refused until it loads'}`,
      );
    }
  }

  /** Load the wanted files not loaded yet (before a snapshot's listeners take clients). */
  configure(files: readonly string[], log: Logger | undefined): void {
    this.log ??= log;
    for (const f of files) if (!this.passwords.has(f)) this.load(f);
  }

  /** Watch exactly the wanted files; forget the others. */
  watch(files: readonly string[], log: Logger): void {
    this.log = log;
    const wanted = new Set(files);
    for (const [f, w] of this.watchers)
      if (!wanted.has(f)) {
        w.close();
        this.watchers.delete(f);
        this.passwords.delete(f);
      }
    for (const f of wanted) {
      if (!this.passwords.has(f)) this.load(f);
      if (!this.watchers.has(f))
        this.watchers.set(
          f,
          watchFile(f, () => this.load(f), { debounceMs: 50, pollMs: 250 }),
        );
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

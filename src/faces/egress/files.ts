// The allowlist and htpasswd files of one egress proxy: loaded whole, parsed, then swapped in (a
// request sees the old file or the new one, never half of either); on a read error the last good
// version stays in force. Watched through their directory and a stat poll (config/watch.ts).
import fs from 'node:fs';
import { parseAllowlist, type Allowlist } from '../../policy/allowlist.js';
import { HtpasswdVerifier, parseHtpasswd } from '../../auth/htpasswd.js';
import { watchFile, type FileWatcher } from '../../config/watch.js';

export interface FileEvent {
  readonly file: string;
  readonly kind: 'allowlist' | 'htpasswd';
  readonly ok: boolean;
  readonly error?: string;
  readonly warnings: readonly string[];
  readonly entries?: number;
}

const MAX_FILE = 16 * 1024 * 1024;

function readText(file: string): string {
  const st = fs.statSync(file);
  if (st.size > MAX_FILE) throw new Error(`larger than ${MAX_FILE} bytes`);
  return fs.readFileSync(file, 'utf8');
}

export class EgressFiles {
  /** Current allowlists by resolved path. Replaced, never mutated, so readers hold a consistent map. */
  lists: ReadonlyMap<string, Allowlist> = new Map();
  htpasswd: HtpasswdVerifier | undefined;
  private htpasswdFile: string | undefined;
  private readonly watchers = new Map<string, FileWatcher>();

  constructor(private readonly report: (e: FileEvent) => void) {}

  loadAllowlist(file: string): void {
    try {
      const list = parseAllowlist(readText(file), file);
      const next = new Map(this.lists);
      next.set(file, list);
      this.lists = next;
      this.report({
        file,
        kind: 'allowlist',
        ok: true,
        warnings: list.warnings,
        entries: list.entries.length,
      });
    } catch (err) {
      this.report({ file, kind: 'allowlist', ok: false, error: (err as Error).message, warnings: [] });
    }
  }

  loadHtpasswd(file: string): void {
    try {
      const h = parseHtpasswd(readText(file), file);
      this.htpasswd = new HtpasswdVerifier(h);
      this.htpasswdFile = file;
      this.report({ file, kind: 'htpasswd', ok: true, warnings: h.warnings, entries: h.users.size });
    } catch (err) {
      this.report({ file, kind: 'htpasswd', ok: false, error: (err as Error).message, warnings: [] });
    }
  }

  /** Load what is wanted and not loaded yet; forget what is no longer wanted. */
  configure(allowlists: readonly string[], htpasswd: string | undefined): void {
    const wanted = new Set(allowlists);
    for (const f of allowlists) if (!this.lists.has(f)) this.loadAllowlist(f);
    if ([...this.lists.keys()].some((f) => !wanted.has(f)))
      this.lists = new Map([...this.lists].filter(([f]) => wanted.has(f)));
    if (htpasswd === undefined) {
      this.htpasswd = undefined;
      this.htpasswdFile = undefined;
    } else if (htpasswd !== this.htpasswdFile) {
      this.htpasswd = undefined;
      this.loadHtpasswd(htpasswd);
    }
  }

  /** Watch exactly the wanted files. */
  watch(allowlists: readonly string[], htpasswd: string | undefined, opts: { pollMs?: number } = {}): void {
    const wanted = new Map<string, () => void>();
    for (const f of allowlists) wanted.set(f, () => this.loadAllowlist(f));
    if (htpasswd) wanted.set(htpasswd, () => this.loadHtpasswd(htpasswd));
    for (const [f, w] of this.watchers) {
      if (!wanted.has(f)) {
        w.close();
        this.watchers.delete(f);
      }
    }
    for (const [f, reload] of wanted) {
      if (!this.watchers.has(f)) this.watchers.set(f, watchFile(f, reload, opts));
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

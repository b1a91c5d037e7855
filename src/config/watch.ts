// Watch a file for replacement as well as in-place edits. fs.watch on the file alone dies with the
// old inode when an editor, `mv` or a Kubernetes ..data symlink swap replaces it, so this watches
// the directory and also polls stat (inode, size, mtime) as a backstop for filesystems without
// inotify. Changes are debounced so a burst of writes gives one callback.
import fs from 'node:fs';
import path from 'node:path';

export interface FileWatcher {
  close(): void;
}

function fingerprint(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export function watchFile(
  file: string,
  onChange: () => void,
  opts: { debounceMs?: number; pollMs?: number } = {},
): FileWatcher {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const base = path.basename(abs);
  const debounceMs = opts.debounceMs ?? 100;
  let last = fingerprint(abs);
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    timer = undefined;
    const now = fingerprint(abs);
    if (now === last) return;
    last = now;
    onChange();
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
  };

  let dirWatcher: fs.FSWatcher | undefined;
  try {
    dirWatcher = fs.watch(dir, { persistent: false }, (_event, name) => {
      // ConfigMap updates swap "..data"; any event without a name may be ours too.
      if (name === null || name === base || String(name).startsWith('..')) schedule();
    });
    dirWatcher.on('error', () => dirWatcher?.close());
  } catch {
    dirWatcher = undefined;
  }
  const poll = setInterval(schedule, opts.pollMs ?? 1000);
  poll.unref();

  return {
    close() {
      dirWatcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
    },
  };
}

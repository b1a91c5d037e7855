// Temporary directories for tests: made under os.tmpdir() (so TMPDIR is honoured, never a fixed
// /tmp) and removed by the hook the caller hands over, which runs whether the test passed or not.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A fresh directory named PREFIX + random characters, removed by `hooks.after`: a test's context
 * (`t`, removed when that test ends) or `{ after }` from node:test (removed when the file ends;
 * call it at the top level of the file then: an `after` registered inside `before` runs as soon
 * as that `before` is done).
 */
export function tempDir(hooks: { after(fn: () => void): void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  hooks.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// update-db: `openssl ca -updatedb` as easy-rsa runs it: every valid (V) line of index.txt whose
// expiry has passed becomes E. Nothing else changes.
import { parseOpensslTime } from './ca-index-format.js';
import { readIndexStrict, writeIndex } from './ca-index-store.js';
import { assertCa, pkiLayout, withLock } from './store.js';

/** Marks expired certificates E; returns the serials it marked. */
export async function updateDb(dir: string, now: Date = new Date()): Promise<string[]> {
  const l = pkiLayout(dir);
  assertCa(l);
  return withLock(l, async () => {
    const entries = readIndexStrict(l);
    const marked: string[] = [];
    const next = entries.map((e) => {
      const expiry = parseOpensslTime(e.expiry);
      if (e.status !== 'V' || !expiry || expiry.getTime() > now.getTime()) return e;
      marked.push(e.serial);
      return { ...e, status: 'E' as const };
    });
    if (marked.length > 0) writeIndex(l, next);
    return marked;
  });
}

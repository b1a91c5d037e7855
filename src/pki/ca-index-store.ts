// The CA database files (index.txt, index.txt.attr, serial), read and written as `openssl ca`
// does for easy-rsa; the line format itself is ca-index-format.ts.
import { GatehouseError } from '../errors.js';
import {
  formatIndex,
  type IndexEntry,
  normaliseSerial,
  parseIndex,
  type ParsedIndex,
} from './ca-index-format.js';
import { type PkiLayout, PUBLIC_FILE_MODE, readText, writeFileAtomic } from './store.js';

/** For reading (list, show): bad lines come back as problems to warn about. */
export function readIndexLenient(l: PkiLayout): ParsedIndex {
  return parseIndex(readText(l.index));
}

/** For writing: OpenSSL refuses an index with a bad line, and so do we, rather than drop it. */
export function readIndexStrict(l: PkiLayout): IndexEntry[] {
  const parsed = readIndexLenient(l);
  if (parsed.problems.length > 0) {
    throw new GatehouseError(
      'GH_ERR_PKI_CORRUPT',
      [`${l.index} has ${parsed.problems.length} malformed line(s)`],
      {
        details: parsed.problems.map((p) => `${l.index}:${p.line}: ${p.reason}`),
      },
    );
  }
  return [...parsed.entries];
}

export function writeIndex(l: PkiLayout, entries: readonly IndexEntry[]): void {
  writeFileAtomic(l.index, formatIndex(entries), PUBLIC_FILE_MODE);
}

export function findBySerial(entries: readonly IndexEntry[], serial: string): number {
  const want = normaliseSerial(serial);
  return entries.findIndex((e) => normaliseSerial(e.serial) === want);
}

/** `openssl ca` leaves the serial file at the last serial issued plus one. */
export function writeSerialAfter(l: PkiLayout, issuedSerial: string): void {
  const next = (BigInt(`0x${issuedSerial}`) + 1n).toString(16).toUpperCase();
  writeFileAtomic(l.serial, `${next.length % 2 === 1 ? `0${next}` : next}\n`, PUBLIC_FILE_MODE);
}

export const INDEX_ATTR = 'unique_subject = no\n';

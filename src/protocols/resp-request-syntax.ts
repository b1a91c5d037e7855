// Request syntax as redis-server reads it: decimal lengths (string2ll), the lower-cased words the
// command tracker (resp-command-tracker.ts) compares, and inline commands split as sdssplitargs
// splits them.

/** How many words of a command are kept (the name and two arguments)… */
export const CAPTURE_ARGS = 3;
/** …and the longest one kept; longer ones are not compared. */
export const CAPTURE_BYTES = 64;

/** Non-negative or negative decimal (Redis string2ll, no '+'); NaN when malformed. */
export function decimal(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (i < e && b[i] === 45) {
    neg = true;
    i++;
  }
  if (i === e || e - i > 15) return NaN;
  let v = 0;
  for (; i < e; i++) {
    const c = b[i]!;
    if (c < 48 || c > 57) return NaN;
    v = v * 10 + (c - 48);
  }
  return neg ? -v : v;
}

export function lower(b: Uint8Array, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = b[i]!;
    s += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return s;
}

/**
 * Splits an inline command as Redis's sdssplitargs does, keeping what the tracker needs: the
 * number of words and the first three, lower-cased (undefined when longer than 64 bytes).
 * Quotes group words; escapes inside double quotes are taken literally here (only command names
 * and subcommands are compared). Undefined when quotes are unbalanced.
 */
export function splitInline(b: Uint8Array, start: number, len: number): (string | undefined)[] | undefined {
  const out: (string | undefined)[] = [];
  let i = start;
  while (i < len) {
    while (i < len && (b[i] === 32 || b[i] === 9 || b[i] === 13 || b[i] === 11 || b[i] === 12)) i++;
    if (i >= len) break;
    let word = '';
    let long = false;
    const q = b[i] === 34 || b[i] === 39 ? b[i]! : 0;
    if (q !== 0) {
      i++;
      for (;;) {
        if (i >= len) return undefined;
        const c = b[i]!;
        if (q === 34 && c === 92 && i + 1 < len) {
          i += 2;
          word += '?';
          continue;
        }
        i++;
        if (c === q) break;
        word += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
      }
      // A closing quote must be followed by a space or the end.
      if (i < len && b[i] !== 32 && b[i] !== 9) return undefined;
    } else {
      while (i < len && b[i] !== 32 && b[i] !== 9 && b[i] !== 13) {
        const c = b[i++]!;
        if (word.length < CAPTURE_BYTES) word += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
        else long = true;
      }
    }
    out.push(out.length < CAPTURE_ARGS && !long && word.length <= CAPTURE_BYTES ? word : undefined);
  }
  return out;
}

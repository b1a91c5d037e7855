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

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13); // C isspace: space \t \n \v \f \r
const hexValue = (c: number) =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;

/**
 * Splits an inline command exactly as redis-server's sdssplitargs does, bytes and all (escapes
 * `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` inside double quotes, `\'` inside single quotes), for the
 * code that must know precisely which command and which arguments the server will see (the Redis
 * user gate). The line is read as a C string, so it ends at its first NUL. Undefined when Redis
 * refuses it (unbalanced quotes, a closing quote not followed by a space).
 */
export function splitInlineExact(line: Uint8Array): Buffer[] | undefined {
  const nul = line.indexOf(0);
  const n = nul < 0 ? line.length : nul;
  const at = (i: number) => (i < n ? line[i]! : 0);
  const out: Buffer[] = [];
  let p = 0;
  for (;;) {
    while (p < n && isSpace(line[p]!)) p++;
    if (p >= n) return out;
    const cur: number[] = [];
    let inq = false;
    let insq = false;
    for (let done = false; !done;) {
      const c = at(p);
      if (inq) {
        if (c === 92 && at(p + 1) === 120 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          cur.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 92 && at(p + 1) !== 0) {
          p++;
          const e = at(p);
          cur.push(e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e);
        } else if (c === 34) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else cur.push(c);
      } else if (insq) {
        if (c === 92 && at(p + 1) === 39) {
          p++;
          cur.push(39);
        } else if (c === 39) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else cur.push(c);
      } else if (c === 32 || c === 10 || c === 13 || c === 9 || c === 0) {
        done = true;
      } else if (c === 34) {
        inq = true;
      } else if (c === 39) {
        insq = true;
      } else cur.push(c);
      if (at(p) !== 0) p++;
    }
    out.push(Buffer.from(cur));
  }
}

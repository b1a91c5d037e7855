// Splits a Redis client's byte stream into commands exactly as redis-server 7 reads its query
// buffer (networking.c: processMultibulkBuffer, processInlineBuffer), so that a gate in front of
// the server knows which command the server will run, with no way for crafted bytes to make the
// two disagree:
// - a request starting with `*` is multibulk, anything else an inline line;
// - multibulk header lines end at the first CR, and the byte after it is skipped unread;
// - numbers are read as string2ll reads them (no sign but `-`, no leading zero, no blank);
// - an inline line ends at LF (one CR before it dropped) and splits as sdssplitargs does;
// - a command name is looked up case-insensitively and, like a C string, up to its first NUL.
// The tracker (resp-command-tracker.ts) reads the same stream for reply counting and is lenient;
// this one is strict: where Redis would answer a protocol error and close, `error` is set and
// nothing more is passed (the caller closes), and lines holding a NUL (which Redis's strchr never
// sees past) count as errors too.
//
// Commands pass through as the client's own bytes, streamed (a 500 MB SET is never buffered);
// only commands whose name the caller `wants` are held whole (up to `maxCaptureBytes`) and
// replaced by the bytes `replace` returns.
import { decimal, splitInlineExact } from './resp-request-syntax.js';

export interface FramedCommand {
  /** The arguments, name first, as the server will see them. */
  readonly args: readonly Buffer[];
  /** The client's bytes for this command. */
  readonly raw: Buffer;
}

export interface RequestFramerOptions {
  /** Whether to hold a command whole: `name` is lower-cased, cut at its first NUL. */
  wants(name: string): boolean;
  /** The bytes to send in place of a held command. */
  replace(command: FramedCommand): Buffer;
  /** Largest command held whole (default 1 MiB); past it the framer fails. */
  readonly maxCaptureBytes?: number;
  /** Redis's proto-max-bulk-len (default 512 MiB). */
  readonly maxBulkLength?: number;
}

export interface RequestFramer {
  /** Client bytes in; the bytes to send on, in pieces (slices of `chunk` where unchanged). */
  feed(chunk: Buffer): Buffer[];
  /** Set once the stream is one Redis would refuse; nothing is passed from then on. */
  readonly error: string | undefined;
}

export function createRequestFramer(options: RequestFramerOptions): RequestFramer {
  return new Framer(options);
}

const INLINE_MAX = 64 * 1024; // PROTO_INLINE_MAX_SIZE
/** Bytes of a command name read before deciding: every name a caller wants is shorter. */
const NAME_PEEK = 16;

const S_START = 0;
const S_COUNT = 1; // the `*<argc>` line
const S_ARGLEN = 2; // a `$<len>` line
const S_SKIP = 3; // the byte after a header line's CR
const S_DATA = 4; // argument bytes
const S_DATAEND = 5; // the two bytes after an argument
const S_INLINE = 6;
const S_DEAD = 7;

const M_UNDECIDED = 0; // name not known yet: bytes held
const M_PASS = 1;
const M_HOLD = 2;

function string2ll(b: Uint8Array, s: number, e: number): number {
  if (e - s === 1 && b[s] === 48) return 0;
  const first = b[s] === 45 ? s + 1 : s;
  if (first >= e || b[first]! < 49 || b[first]! > 57) return NaN; // no leading zero, no empty
  return decimal(b, s, e);
}

function nameKey(bytes: Uint8Array, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = bytes[i]!;
    if (c === 0) break;
    s += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return s;
}

class Framer implements RequestFramer {
  private readonly maxHold: number;
  private readonly maxBulk: number;
  private st: number = S_START;
  private afterSkip: number = S_COUNT; // which line the skipped byte ends
  private line: number[] = [];
  private argc = 0;
  private argi = 0;
  private left = 0;
  private mode: number = M_UNDECIDED;
  /** The current command's bytes while undecided or held. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The current argument's bytes (while undecided or held), and the arguments so far. */
  private arg: Buffer[] = [];
  private args: Buffer[] = [];
  private out: Buffer[] = [];
  // The last piece pushed to `out`, to extend instead of pushing a neighbouring slice.
  private lastChunk: Buffer | undefined;
  private lastStart = 0;
  private lastEnd = 0;
  error: string | undefined;

  constructor(private readonly o: RequestFramerOptions) {
    this.maxHold = o.maxCaptureBytes ?? 1024 * 1024;
    this.maxBulk = o.maxBulkLength ?? 512 * 1024 * 1024;
  }

  feed(chunk: Buffer): Buffer[] {
    this.out = [];
    this.lastChunk = undefined;
    if (this.st !== S_DEAD) this.parse(chunk);
    return this.out;
  }

  private fail(why: string): void {
    this.st = S_DEAD;
    this.error ??= why;
    this.held = [];
    this.arg = [];
    this.args = [];
  }

  /** Bytes [a, b) of `chunk` belong to the current command. */
  private take(chunk: Buffer, a: number, b: number): void {
    if (a === b) return;
    if (this.mode === M_PASS) {
      if (this.lastChunk === chunk && this.lastEnd === a) {
        this.out[this.out.length - 1] = chunk.subarray(this.lastStart, b);
      } else {
        this.out.push(chunk.subarray(a, b));
        this.lastChunk = chunk;
        this.lastStart = a;
      }
      this.lastEnd = b;
      return;
    }
    this.heldBytes += b - a;
    if (this.heldBytes > this.maxHold) return this.fail('command too large to inspect');
    this.held.push(chunk.subarray(a, b));
  }

  private decide(name: string): void {
    if (this.o.wants(name)) {
      this.mode = M_HOLD;
      return;
    }
    this.mode = M_PASS;
    for (const piece of this.held) this.out.push(piece);
    this.lastChunk = undefined;
    this.held = [];
    this.heldBytes = 0;
    this.arg = [];
  }

  private commandDone(args: readonly Buffer[]): void {
    if (this.mode !== M_PASS) {
      const raw = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
      this.out.push(this.o.replace({ args, raw }));
      this.lastChunk = undefined;
    }
    this.held = [];
    this.heldBytes = 0;
    this.args = [];
    this.arg = [];
    this.mode = M_UNDECIDED;
    this.st = S_START;
  }

  private parse(b: Buffer): void {
    const n = b.length;
    let i = 0;
    while (i < n && this.st !== S_DEAD) {
      switch (this.st) {
        case S_START:
          this.line = [];
          this.st = b[i] === 42 ? S_COUNT : S_INLINE;
          if (this.st === S_COUNT) {
            this.take(b, i, i + 1);
            i++;
          }
          break;
        case S_COUNT:
        case S_ARGLEN: {
          let j = i;
          while (j < n && b[j] !== 13 && b[j] !== 0) j++;
          if (this.line.length + (j - i) > INLINE_MAX) return this.fail('header line too long');
          for (let k = i; k < j; k++) this.line.push(b[k]!);
          if (j < n && b[j] === 0) return this.fail('NUL in a header line');
          this.take(b, i, Math.min(j + 1, n));
          if (this.dead() || j === n) return;
          this.afterSkip = this.st;
          this.st = S_SKIP;
          i = j + 1;
          break;
        }
        case S_SKIP:
          this.take(b, i, i + 1);
          i++;
          if (!this.dead()) this.headerLine();
          break;
        case S_DATA: {
          const take = Math.min(n - i, this.left);
          if (this.mode !== M_PASS) this.arg.push(b.subarray(i, i + take));
          this.take(b, i, i + take);
          this.left -= take;
          i += take;
          if (this.mode === M_UNDECIDED && this.argi === 0) {
            const got = this.argLength();
            const len = got + this.left;
            if (got >= Math.min(len, NAME_PEEK)) {
              const name = Buffer.concat(this.arg);
              const key = nameKey(name, Math.min(name.length, NAME_PEEK));
              // A name longer than any wanted one, with no NUL to cut it short, is not wanted.
              this.decide(len > NAME_PEEK && key.length >= NAME_PEEK ? '' : key);
            }
          }
          if (this.left === 0) {
            this.st = S_DATAEND;
            this.left = 2;
          }
          break;
        }
        case S_DATAEND: {
          // Redis skips the two bytes after an argument without looking at them.
          const take = Math.min(n - i, this.left);
          this.take(b, i, i + take);
          this.left -= take;
          i += take;
          if (this.left === 0 && !this.dead()) this.argDone();
          break;
        }
        case S_INLINE: {
          let j = i;
          while (j < n && b[j] !== 10 && b[j] !== 0) j++;
          if (this.line.length + (j - i) > INLINE_MAX) return this.fail('inline request too long');
          if (j < n && b[j] === 0) return this.fail('NUL in an inline request');
          for (let k = i; k < j; k++) this.line.push(b[k]!);
          this.take(b, i, Math.min(j + 1, n));
          if (this.dead() || j === n) return;
          i = j + 1;
          this.inlineDone();
          break;
        }
      }
    }
  }

  private dead(): boolean {
    return this.st === S_DEAD;
  }

  private argLength(): number {
    let len = 0;
    for (const piece of this.arg) len += piece.length;
    return len;
  }

  private headerLine(): void {
    const l = Uint8Array.from(this.line);
    this.line = [];
    if (this.afterSkip === S_COUNT) {
      const argc = string2ll(l, 0, l.length); // the `*` is not in the line
      if (Number.isNaN(argc) || argc > 2147483647) return this.fail('invalid multibulk length');
      if (argc <= 0) {
        // Redis reads an empty request and moves on; the bytes are passed as they came.
        this.mode = M_PASS;
        this.flushHeld();
        return this.commandDone([]);
      }
      this.argc = argc;
      this.argi = 0;
      this.st = S_ARGLEN;
      return;
    }
    if (l[0] !== 36) return this.fail("expected '$'");
    const len = string2ll(l, 1, l.length);
    if (Number.isNaN(len) || len < 0 || len > this.maxBulk) return this.fail('invalid bulk length');
    this.left = len;
    if (this.mode === M_UNDECIDED && this.argi === 0 && len === 0) this.decide('');
    this.st = len === 0 ? S_DATAEND : S_DATA;
    if (len === 0) this.left = 2;
  }

  private flushHeld(): void {
    for (const piece of this.held) this.out.push(piece);
    this.lastChunk = undefined;
    this.held = [];
    this.heldBytes = 0;
  }

  private argDone(): void {
    if (this.mode !== M_PASS) {
      this.args.push(this.arg.length === 1 ? this.arg[0]! : Buffer.concat(this.arg));
      this.arg = [];
    }
    this.argi++;
    if (this.argi < this.argc) {
      this.st = S_ARGLEN;
      return;
    }
    this.commandDone(this.args);
  }

  private inlineDone(): void {
    let l = Uint8Array.from(this.line);
    this.line = [];
    if (l.length > 0 && l[l.length - 1] === 13) l = l.subarray(0, l.length - 1);
    const words = splitInlineExact(l);
    if (words === undefined) return this.fail('unbalanced quotes in inline request');
    if (words.length === 0 || !this.o.wants(nameKey(words[0]!, words[0]!.length))) {
      this.mode = M_PASS;
      this.flushHeld();
      return this.commandDone([]);
    }
    this.mode = M_HOLD;
    this.commandDone(words);
  }
}

// Log lines (audit JSON, access logs) gathered and written in batches: one write every FLUSH_MS or
// every BATCH_BYTES, whichever comes first, instead of one write per line. A busy proxy logs a line
// per request; written one by one, each costs a thread-pool hop and a wake-up of every watcher of
// the directory, which profiles showed costing more than the request itself. Squid buffers its
// access log the same way. Lines are lost only if the process dies without exiting (SIGKILL):
// close() and process exit flush what is pending.
//
// A file is reopened on demand (reopen(): SIGUSR1 or POST /api/logs/reopen, see LogFiles): after
// logrotate renames it, lines would otherwise keep going to the renamed file through the old
// descriptor. The switch happens between two writes, never during one: what was written before
// stays in the old file, every later batch goes to a new file at the same path.
import fs from 'node:fs';

const FLUSH_MS = 50;
const BATCH_BYTES = 64 * 1024;
/** Past this much unwritten text (a stalled disk or pipe), new lines are dropped and counted. */
const MAX_PENDING = 16 * 1024 * 1024;
const MAX_SPARE = 4;

export interface LineWriter {
  /** Queue one line (without its newline). */
  write(line: string): void;
  /**
   * Open the file again by its path and write on to the new one (after a rotation). Resolves once
   * switched; rejects, writing on to the old file, when the path cannot be opened. No-op on stdout.
   */
  reopen(): Promise<void>;
  /** Write what is pending and release the file. */
  close(): Promise<void>;
}

/** A writer appending to `file` (created 0640), or to stdout/stderr when named so. */
export function openLineWriter(file: string, label: string): LineWriter {
  if (file === 'stdout' || file === 'stderr') {
    const stream = file === 'stdout' ? process.stdout : process.stderr;
    return new BatchedLines(label, (chunks, done) => {
      if (stream.write(Buffer.concat(chunks))) done();
      else stream.once('drain', done);
    });
  }
  // Opened synchronously so a bad path fails at start with a clear error, not later.
  let fd = fs.openSync(file, 'a', 0o640);
  const writer = new BatchedLines(
    label,
    (chunks, done) => fs.writev(fd, chunks, (err) => done(err ?? undefined)),
    (chunks) => fs.writevSync(fd, chunks),
    () => fs.close(fd, () => {}),
    // Called only between writes (no writev holds the old descriptor).
    () => {
      const next = fs.openSync(file, 'a', 0o640);
      const old = fd;
      fd = next;
      fs.close(old, () => {});
    },
  );
  return writer;
}

/**
 * Lines are encoded straight into a batch buffer as they come (no string joining, no encoding of
 * a big string at flush time on the main thread) and written with one writev per flush.
 */
class BatchedLines implements LineWriter {
  private pending: Buffer[] = [];
  private current: Buffer = Buffer.allocUnsafe(BATCH_BYTES);
  private used = 0;
  private pendingBytes = 0;
  /** Batch buffers back from a finished write, reused rather than allocated again. */
  private readonly spare: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private closed = false;
  private dropped = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly reopenWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly onExit = () => this.flushSync();

  constructor(
    private readonly label: string,
    private readonly writeAsync: (chunks: Buffer[], done: (err?: Error) => void) => void,
    private readonly writeSync?: (chunks: Buffer[]) => void,
    private readonly release?: () => void,
    private readonly reopenTarget?: () => void,
  ) {
    if (writeSync) process.once('exit', this.onExit);
  }

  write(line: string): void {
    if (this.closed) return;
    if (this.pendingBytes > MAX_PENDING) {
      if (this.dropped++ === 0) process.stderr.write(`${this.label}: writes are stalled; dropping lines\n`);
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a line that might not fit starts a new buffer.
    const room = line.length * 3 + 1;
    if (this.used + room > this.current.length) {
      this.seal();
      if (room > this.current.length) this.current = Buffer.allocUnsafe(room);
    }
    const n = this.current.write(line, this.used, 'utf8');
    this.current[this.used + n] = 10;
    this.used += n + 1;
    this.pendingBytes += n + 1;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** The current buffer's lines join the pending list; a fresh buffer takes the next ones. */
  private seal(): void {
    if (this.used === 0) return;
    this.pending.push(this.current.subarray(0, this.used));
    this.current = this.spare.pop() ?? Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) return;
    if (this.reopenWaiters.length > 0) this.switchFile();
    this.seal();
    if (this.pending.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    this.writeAsync(chunks, (err) => {
      this.writing = false;
      this.recycle(chunks);
      if (err) process.stderr.write(`${this.label}: ${err.message}\n`);
      if (this.dropped > 0) {
        process.stderr.write(`${this.label}: ${this.dropped} lines dropped while writes were stalled\n`);
        this.dropped = 0;
      }
      this.flush();
    });
  }

  /**
   * Written batches give their buffers back (a busy proxy fills a few hundred a second; allocating
   * each anew measured about 1 µs a request). Only whole batch-sized buffers, and only a few.
   */
  private recycle(chunks: Buffer[]): void {
    for (const c of chunks) {
      if (this.spare.length >= MAX_SPARE) return;
      if (c.byteOffset === 0 && c.buffer.byteLength === BATCH_BYTES) this.spare.push(Buffer.from(c.buffer));
    }
  }

  reopen(): Promise<void> {
    if (!this.reopenTarget || this.closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.reopenWaiters.push({ resolve, reject });
      if (!this.writing) this.flush();
    });
  }

  /** Between writes: the new file takes every batch from now on (or the old one stays, on error). */
  private switchFile(): void {
    const waiting = this.reopenWaiters.splice(0);
    try {
      this.reopenTarget!();
    } catch (err) {
      for (const w of waiting) w.reject(err as Error);
      return;
    }
    for (const w of waiting) w.resolve();
  }

  /** At exit the event loop is gone: write what is left synchronously. */
  private flushSync(): void {
    if (!this.writeSync) return;
    this.seal();
    if (this.pending.length === 0) return;
    try {
      this.writeSync(this.pending);
    } catch {
      // Nothing left to report to at exit.
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise<void>((resolve) => {
      this.waiters.push(() => {
        for (const w of this.reopenWaiters.splice(0)) w.resolve();
        process.removeListener('exit', this.onExit);
        this.release?.();
        resolve();
      });
      if (!this.writing) this.flush();
    });
  }
}

// Log lines (audit JSON, access logs) gathered and written in batches: one write every FLUSH_MS or
// every BATCH_BYTES, whichever comes first, instead of one write per line. A busy proxy logs a line
// per request; written one by one, each costs a thread-pool hop and a wake-up of every watcher of
// the directory, which profiles showed costing more than the request itself. Squid buffers its
// access log the same way. Lines are lost only if the process dies without exiting (SIGKILL):
// close() and process exit flush what is pending.
import fs from 'node:fs';

const FLUSH_MS = 50;
const BATCH_BYTES = 64 * 1024;
/** Past this much unwritten text (a stalled disk or pipe), new lines are dropped and counted. */
const MAX_PENDING = 16 * 1024 * 1024;

export interface LineWriter {
  /** Queue one line (without its newline). */
  write(line: string): void;
  /** Write what is pending and release the file. */
  close(): Promise<void>;
}

/** A writer appending to `file` (created 0640), or to stdout/stderr when named so. */
export function openLineWriter(file: string, label: string): LineWriter {
  if (file === 'stdout' || file === 'stderr') {
    const stream = file === 'stdout' ? process.stdout : process.stderr;
    return new BatchedLines(label, (text, done) => {
      if (stream.write(text)) done();
      else stream.once('drain', done);
    });
  }
  // Opened synchronously so a bad path fails at start with a clear error, not later.
  const fd = fs.openSync(file, 'a', 0o640);
  const writer = new BatchedLines(
    label,
    (text, done) => fs.write(fd, text, null, 'utf8', (err) => done(err ?? undefined)),
    (text) => fs.writeSync(fd, text),
    () => fs.close(fd, () => {}),
  );
  return writer;
}

class BatchedLines implements LineWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private closed = false;
  private dropped = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly onExit = () => this.flushSync();

  constructor(
    private readonly label: string,
    private readonly writeAsync: (text: string, done: (err?: Error) => void) => void,
    private readonly writeSync?: (text: string) => void,
    private readonly release?: () => void,
  ) {
    if (writeSync) process.once('exit', this.onExit);
  }

  write(line: string): void {
    if (this.closed) return;
    if (this.pendingBytes > MAX_PENDING) {
      if (this.dropped++ === 0) process.stderr.write(`${this.label}: writes are stalled; dropping lines\n`);
      return;
    }
    this.pending.push(line, '\n');
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) return;
    if (this.pending.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    this.writeAsync(text, (err) => {
      this.writing = false;
      if (err) process.stderr.write(`${this.label}: ${err.message}\n`);
      if (this.dropped > 0) {
        process.stderr.write(`${this.label}: ${this.dropped} lines dropped while writes were stalled\n`);
        this.dropped = 0;
      }
      this.flush();
    });
  }

  /** At exit the event loop is gone: write what is left synchronously. */
  private flushSync(): void {
    if (!this.writeSync || this.pending.length === 0) return;
    try {
      this.writeSync(this.pending.join(''));
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
        process.removeListener('exit', this.onExit);
        this.release?.();
        resolve();
      });
      if (!this.writing) this.flush();
    });
  }
}

// The log files one process writes (the audit JSON lines, the egress access logs), so they can be
// reopened together when logrotate has renamed them: SIGUSR1 and POST /api/logs/reopen both land
// here. Only the process that writes a file holds it: with workers that is the primary, the one
// writer of every file (workers send it their lines), so reopening there reopens everything.
// stdout and stderr are not files of ours (the journal or a collector holds them): never listed.
import { GatehouseError } from '../errors.js';
import { openLineWriter, type LineWriter } from './line-writer.js';

export interface LogReopenReport {
  /** Files now written through a new descriptor. */
  readonly reopened: string[];
  /** Files that could not be opened again; their lines keep going to the old file. */
  readonly failed: { readonly file: string; readonly error: string }[];
}

export class LogFiles {
  private readonly open = new Map<LineWriter, string>();

  /** A writer of `file` (or stdout/stderr), listed for reopen() until it is closed. */
  writer(file: string, label: string): LineWriter {
    const w = openLineWriter(file, label);
    if (file === 'stdout' || file === 'stderr') return w;
    this.open.set(w, file);
    return {
      write: (line) => w.write(line),
      reopen: () => w.reopen(),
      close: () => {
        this.open.delete(w);
        return w.close();
      },
    };
  }

  /** The files open now. */
  files(): string[] {
    return [...new Set(this.open.values())];
  }

  async reopen(): Promise<LogReopenReport> {
    const reopened: string[] = [];
    const failed: { file: string; error: string }[] = [];
    await Promise.all(
      [...this.open].map(([w, file]) =>
        w.reopen().then(
          () => reopened.push(file),
          (err: unknown) =>
            failed.push({
              file,
              error: new GatehouseError('GH_ERR_LOG_REOPEN', [file, errText(err)]).message,
            }),
        ),
      ),
    );
    return { reopened: [...new Set(reopened)], failed };
  }
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? String(err);
}

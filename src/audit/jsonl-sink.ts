// Audit events as JSON lines on stdout, stderr or an appended file.
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { AuditEvent, AuditSink } from './events.js';

export function jsonLinesSink(target: string): AuditSink {
  let stream: Writable;
  let owned = false;
  if (target === 'stdout') stream = process.stdout;
  else if (target === 'stderr') stream = process.stderr;
  else {
    // Opened synchronously so a bad path fails at start with a clear error, not later in a stream.
    const fd = fs.openSync(target, 'a', 0o640);
    stream = fs.createWriteStream('', { fd });
    stream.on('error', (err) => process.stderr.write(`audit log ${target}: ${err.message}\n`));
    owned = true;
  }
  return {
    write(event: AuditEvent) {
      stream.write(JSON.stringify(event) + '\n');
    },
    close() {
      if (!owned) return Promise.resolve();
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}

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
    stream = fs.createWriteStream(target, { flags: 'a', mode: 0o640 });
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

// Audit events as JSON lines on stdout, stderr or an appended file, written in batches by `lines`
// (a LogFiles writer, so a rotated file is reopened with the others).
import type { AuditEvent, AuditSink } from './events.js';
import type { LineWriter } from './line-writer.js';

export function jsonLinesSink(lines: LineWriter): AuditSink {
  return {
    write(event: AuditEvent) {
      lines.write(JSON.stringify(event));
    },
    close: () => lines.close(),
  };
}

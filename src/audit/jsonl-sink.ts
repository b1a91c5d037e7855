// Audit events as JSON lines on stdout, stderr or an appended file, written in batches.
import type { AuditEvent, AuditSink } from './events.js';
import { openLineWriter } from './line-writer.js';

export function jsonLinesSink(target: string): AuditSink {
  const lines = openLineWriter(target, `audit log ${target}`);
  return {
    write(event: AuditEvent) {
      lines.write(JSON.stringify(event));
    },
    close: () => lines.close(),
  };
}

// The operational log: JSON lines on stderr (audit events go elsewhere). Secrets are redacted at
// the source. Workers add their name to every line ("worker": "w2").
import { pino, type Logger } from 'pino';

export function createLog(base: Record<string, unknown> = {}): Logger {
  return pino(
    { base: { pid: process.pid, ...base }, redact: ['token', '*.token', 'password', '*.password'] },
    pino.destination(2),
  );
}

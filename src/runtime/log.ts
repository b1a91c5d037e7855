// The operational log: JSON lines on stderr (audit events go elsewhere), with ISO timestamps.
// Secrets are redacted at the source. Workers add their name to every line ("worker": "w2").
// On a terminal (or with --log-format pretty) the same lines are printed readably instead; a
// journal or a collector gets JSON. Level and format reach worker processes through the
// environment (GATEHOUSE_LOG_LEVEL, GATEHOUSE_LOG_FORMAT), which `serve` sets from its flags.
import { pino, type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  readonly level?: LogLevel | undefined;
  readonly format?: LogFormat | undefined;
}

function isLevel(v: string | undefined): v is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(v ?? '');
}

function isFormat(v: string | undefined): v is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(v ?? '');
}

export function createLog(base: Record<string, unknown> = {}, opts: LogOptions = {}): Logger {
  const envLevel = process.env.GATEHOUSE_LOG_LEVEL;
  const envFormat = process.env.GATEHOUSE_LOG_FORMAT;
  const level = opts.level ?? (isLevel(envLevel) ? envLevel : 'info');
  const format = opts.format ?? (isFormat(envFormat) ? envFormat : 'auto');
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: ['token', '*.token', 'password', '*.password'],
    },
    pretty ? prettyDestination() : pino.destination(2),
  );
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields every line has, shown in the prefix (or not at all) rather than as key=value. */
const PREFIX_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'worker']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v && typeof v === 'object' && 'message' in v && typeof v.message === 'string')
    return JSON.stringify(v.message);
  return JSON.stringify(v);
}

/** One JSON log line as a terminal line: "TIME LEVEL [worker] message key=value …". */
export function formatPretty(line: string): string {
  let l: Record<string, unknown>;
  try {
    l = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVEL_NAMES[Number(l.level)] ?? String(l.level);
  const worker = typeof l.worker === 'string' ? ` [${l.worker}]` : '';
  const rest = Object.entries(l)
    .filter(([k]) => !PREFIX_FIELDS.has(k))
    .map(([k, v]) => ` ${k}=${value(v)}`)
    .join('');
  return `${String(l.time)} ${level.padEnd(5)}${worker} ${String(l.msg ?? '')}${rest}\n`;
}

function prettyDestination(): DestinationStream {
  return { write: (line: string) => void process.stderr.write(formatPretty(line)) };
}

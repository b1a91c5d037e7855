// The egress access log, one line per request or tunnel, in Squid's native format (so existing
// parsers and dashboards keep working) or as JSON lines with the decision spelled out.
//   Squid: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt"
import type { LineWriter } from '../../audit/line-writer.js';

export interface AccessRecord {
  /** ms since the epoch when the request arrived */
  readonly start: number;
  readonly elapsedMs: number;
  readonly client: string;
  /** Squid result code: TCP_MISS, TCP_TUNNEL, TCP_DENIED, NONE_NONE */
  readonly action: string;
  readonly status: number;
  /** bytes sent to the client */
  readonly bytes: number;
  readonly method: string;
  readonly url: string;
  readonly user?: string;
  /** HIER_DIRECT or HIER_NONE */
  readonly hierarchy: string;
  readonly peer?: string;
  readonly contentType?: string;
  readonly reason: string;
  readonly rule?: string;
  readonly where?: string;
  readonly policy?: string;
  readonly wouldDeny?: string;
}

// eslint-disable-next-line no-control-regex -- control characters are what this escapes
const UNSAFE = /[\s\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex -- the same set, every occurrence
const UNSAFE_ALL = /[\s\x00-\x1f\x7f]/g;

function squidToken(s: string | undefined): string {
  if (!s) return '-';
  // Tested before replacing: nearly every value is clean, and a replace with a callback costs a
  // runtime call even when nothing matches (this runs per request).
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, (c) => encodeURIComponent(c)) : s;
}

/** Squid's "%ts.%03tu": seconds and milliseconds, from integer milliseconds, without toFixed. */
function squidTime(ms: number): string {
  const frac = ms % 1000;
  return `${(ms - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

export function formatSquid(r: AccessRecord): string {
  const elapsed = String(Math.max(0, Math.round(r.elapsedMs))).padStart(6);
  return `${squidTime(r.start)} ${elapsed} ${r.client} ${r.action}/${String(r.status).padStart(3, '0')} ${r.bytes} ${r.method} ${squidToken(r.url)} ${squidToken(r.user)} ${r.hierarchy}/${r.peer ?? '-'} ${squidToken(r.contentType)}`;
}

export function formatJson(r: AccessRecord): string {
  return JSON.stringify({ time: new Date(r.start).toISOString(), ...r });
}

export interface AccessLog {
  write(r: AccessRecord): void;
  close(): Promise<void>;
}

/** `openLines` is the host's writer of that file (FaceContext.openLines): one writer per file. */
export function openAccessLog(
  file: string,
  format: 'squid' | 'json',
  openLines: (file: string, label: string) => LineWriter,
): AccessLog {
  const lines = openLines(file, `access log ${file}`);
  const fmt = format === 'json' ? formatJson : formatSquid;
  return {
    write: (r) => lines.write(fmt(r)),
    close: () => lines.close(),
  };
}

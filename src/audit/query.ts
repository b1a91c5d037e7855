// Audit queries as values: parse the filters an operator gives (API query string, CLI flags) into
// an AuditQuery, and turn one into a parameterised SQL WHERE clause. Pure: no database here.
import { parseDuration } from '../config/duration.js';

export type AuditDecision = 'allowed' | 'denied';

export interface AuditQuery {
  /** Inclusive lower bound, ms since the epoch. */
  readonly since?: number;
  /** Exclusive upper bound, ms since the epoch. */
  readonly until?: number;
  readonly face?: string;
  readonly event?: string;
  readonly identity?: string;
  /** Matches the source address, with or without its port ("10.0.0.5" or "10.0.0.5:51234"). */
  readonly source?: string;
  /** Substring of the target ("example.com", "10.0.1.5:6379"). */
  readonly target?: string;
  readonly decision?: AuditDecision;
  readonly session?: string;
  /** Rows with an id below this one (paging backwards). */
  readonly before?: number;
  readonly limit: number;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 5000;

/** "1h", "30m", "7d" (ago, relative to now) or an ISO 8601 time; a problem as a string. */
export function parseTime(text: string, now: number): number | string {
  const t = text.trim();
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(t)) {
    const d = parseDuration(t);
    return typeof d === 'string' ? d : now - d;
  }
  const ms = Date.parse(t);
  if (Number.isNaN(ms))
    return `"${text}" is neither a duration (1h, 30m, 7d) nor an ISO time (2026-01-31T12:00:00Z)`;
  return ms;
}

const FILTERS = ['face', 'event', 'identity', 'source', 'target', 'session'] as const;

/** Build a query from string parameters (a URL's query, CLI flags). Problems are returned, not thrown. */
export function parseAuditQuery(
  params: Readonly<Record<string, string | undefined>>,
  now = Date.now(),
): { query: AuditQuery } | { problems: string[] } {
  const problems: string[] = [];
  const q: { -readonly [K in keyof AuditQuery]: AuditQuery[K] } = { limit: DEFAULT_LIMIT };
  for (const key of ['since', 'until'] as const) {
    const v = params[key];
    if (v === undefined || v === '') continue;
    const t = parseTime(v, now);
    if (typeof t === 'string') problems.push(`${key}: ${t}`);
    else q[key] = t;
  }
  for (const key of FILTERS) {
    const v = params[key];
    if (v !== undefined && v !== '') q[key] = v.slice(0, 512);
  }
  const decision = params.decision;
  if (decision !== undefined && decision !== '') {
    if (decision === 'allowed' || decision === 'denied') q.decision = decision;
    else problems.push(`decision: "${decision}" is not one of allowed, denied`);
  }
  for (const key of ['limit', 'before'] as const) {
    const v = params[key];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) problems.push(`${key}: "${v}" is not a positive integer`);
    else q[key] = key === 'limit' ? Math.min(n, MAX_LIMIT) : n;
  }
  return problems.length ? { problems } : { query: q };
}

/** The WHERE clause (possibly empty) and its parameters, for the `events` table of the store. */
export function whereClause(q: Omit<AuditQuery, 'limit'>): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  const add = (sql: string, ...values: (string | number)[]) => {
    parts.push(sql);
    params.push(...values);
  };
  if (q.since !== undefined) add('ts >= ?', q.since);
  if (q.until !== undefined) add('ts < ?', q.until);
  if (q.face !== undefined) add('face = ?', q.face);
  if (q.event !== undefined) add('event = ?', q.event);
  if (q.identity !== undefined) add('identity = ?', q.identity);
  if (q.session !== undefined) add('session = ?', q.session);
  if (q.source !== undefined) {
    // An address alone matches every port of it; with a port, exactly.
    add('(source = ? OR source_ip = ?)', q.source, q.source);
  }
  if (q.target !== undefined)
    add("target LIKE ? ESCAPE '\\'", `%${q.target.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (q.decision !== undefined) add('decision = ?', q.decision);
  if (q.before !== undefined) add('id < ?', q.before);
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** The address part of "1.2.3.4:5", "[::1]:5" or a bare address. */
export function sourceIp(source: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(source);
  if (v6) return v6[1]!;
  const v4 = /^([^:]+):\d+$/.exec(source);
  return v4 ? v4[1]! : source;
}

/** The host an egress target names: "https://Example.com:443/x" or "example.com:443" → "example.com". */
export function targetHost(target: string): string | undefined {
  let t = target.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(t);
  if (scheme) t = t.slice(scheme[0].length);
  t = t.split(/[/?#]/)[0] ?? '';
  const at = t.lastIndexOf('@');
  if (at >= 0) t = t.slice(at + 1);
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    return end > 0 ? t.slice(1, end).toLowerCase() : undefined;
  }
  const host = t.replace(/:\d+$/, '').toLowerCase();
  return host === '' ? undefined : host;
}

/** What an event decided: an explicit `allowed`, or the event name. */
export function decisionOf(event: {
  event: string;
  allowed?: boolean | undefined;
}): AuditDecision | undefined {
  if (event.allowed === true) return 'allowed';
  if (event.allowed === false || event.event === 'denied') return 'denied';
  if (event.event === 'accepted') return 'allowed';
  return undefined;
}

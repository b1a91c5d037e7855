// Squid `dstdomain` allowlists, read as Squid 5 reads the same allowlist.txt (checked against the
// real squid in test/e2e/egress-squid-parity.test.ts):
//   - one entry a line; leading and trailing white space is dropped; "#" starts a comment
//     (a whole line or the rest of one); blank lines are skipped;
//   - the whole rest of the line is the entry: "a.com b.com" is ONE entry that matches nothing;
//   - case-insensitive; ".example.com" matches example.com and every subdomain;
//     "example.com" matches that name only; IP literals match the same address;
//   - an entry ending in "." never matches (Squid strips the dot from request hosts, not entries).
// Entries Squid would load but that can never match get a warning with FILE:LINE, not an error:
// the file must load as Squid loads it. Pure: text in, value out.
import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { normalizeHost, type NormalizedHost } from './egress-host.js';

export interface AllowlistEntry {
  /** The entry as written (trimmed). */
  readonly text: string;
  readonly line: number;
  /** FILE:LINE */
  readonly where: string;
  readonly kind: 'name' | 'domain' | 'ip';
  /** Canonical value: the name, the domain without its leading dot, or the address text. */
  readonly value: string;
}

export interface Allowlist {
  readonly file: string;
  readonly entries: readonly AllowlistEntry[];
  readonly warnings: readonly string[];
  /** exact names and addresses → entry */
  readonly exact: ReadonlyMap<string, AllowlistEntry>;
  /** ".example.com" entries, keyed by "example.com" */
  readonly domains: ReadonlyMap<string, AllowlistEntry>;
}

/** Lines longer than this are skipped with a warning (Squid's config line limit is similar). */
export const MAX_ALLOWLIST_LINE = 2048;

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function ipText(s: string): string | undefined {
  const inner = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (ipaddr.IPv4.isValidFourPartDecimal(inner)) return ipaddr.IPv4.parse(inner).toString();
  if (inner.includes(':') && ipaddr.IPv6.isValid(inner) && !inner.includes('%'))
    return ipaddr.IPv6.parse(inner).toString();
  return undefined;
}

type Classified = { kind: AllowlistEntry['kind']; value: string } | { dead: string };

function classify(token: string): Classified {
  const lower = token.toLowerCase();
  if (/\s/.test(lower))
    return { dead: 'Squid reads the whole line as one name, which matches nothing; put one entry a line' };
  if (lower.includes('://') || lower.includes('/'))
    return { dead: 'an entry is a host name, not a URL; write the host only (e.g. ".example.com")' };
  if (lower.includes('*'))
    return { dead: 'dstdomain has no wildcards; write ".example.com" for a domain and its subdomains' };
  // eslint-disable-next-line no-control-regex -- non-ASCII is what this looks for
  if (/[^\x00-\x7f]/.test(lower)) {
    const ascii = domainToASCII(lower.replace(/^\./, ''));
    return {
      dead: `Squid compares names byte for byte and clients send IDNs as punycode, so this never matches${ascii ? `; write "${lower.startsWith('.') ? '.' : ''}${ascii}"` : ''}`,
    };
  }
  const ip = ipText(lower);
  if (ip) return { kind: 'ip', value: ip };
  if (lower.endsWith('.'))
    return {
      dead: `an entry ending in "." never matches (request hosts lose their dot); write "${lower.replace(/\.+$/, '')}"`,
    };
  if (lower.startsWith('.')) {
    const domain = lower.slice(1);
    if (!HOSTNAME.test(domain)) return { dead: 'not a valid domain after the leading "."' };
    return { kind: 'domain', value: domain };
  }
  if (!HOSTNAME.test(lower)) return { dead: 'not a valid host name' };
  return { kind: 'name', value: lower };
}

export function parseAllowlist(text: string, file: string): Allowlist {
  const entries: AllowlistEntry[] = [];
  const warnings: string[] = [];
  const exact = new Map<string, AllowlistEntry>();
  const domains = new Map<string, AllowlistEntry>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const where = `${file}:${line}`;
    if (raw.length > MAX_ALLOWLIST_LINE) {
      warnings.push(`${where}: warning: line longer than ${MAX_ALLOWLIST_LINE} characters skipped`);
      return;
    }
    const hash = raw.indexOf('#');
    const token = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (token === '') return;
    const c = classify(token);
    if ('dead' in c) {
      warnings.push(`${where}: warning: "${token}" ${c.dead}`);
      return;
    }
    const entry: AllowlistEntry = { text: token, line, where, kind: c.kind, value: c.value };
    const map = c.kind === 'domain' ? domains : exact;
    const prior = map.get(c.value);
    if (prior) {
      warnings.push(`${where}: warning: "${token}" repeats ${prior.where}`);
      return;
    }
    entries.push(entry);
    map.set(c.value, entry);
  });
  return Object.freeze({ file, entries, warnings, exact, domains });
}

/** The entry that lets `host` through, or undefined. Names only match names, addresses addresses. */
export function matchAllowlist(list: Allowlist, host: NormalizedHost): AllowlistEntry | undefined {
  if (host.kind === 'ip') {
    const e = list.exact.get(host.text) ?? list.exact.get(host.ip.toString());
    return e?.kind === 'ip' ? e : undefined;
  }
  const name = host.text;
  let best: AllowlistEntry | undefined = list.exact.get(name);
  if (best?.kind === 'ip') best = undefined;
  // ".example.com" covers example.com itself and every name under it; report the earliest line.
  let at = -1;
  do {
    const e = list.domains.get(name.slice(at + 1));
    if (e && (!best || e.line < best.line)) best = e;
    at = name.indexOf('.', at + 1);
  } while (at >= 0);
  return best;
}

/** Parse a host and match it: for callers that hold a raw string (tests, explain). */
export function allowlistAllows(list: Allowlist, host: string): boolean {
  const h = normalizeHost(host);
  return h.kind !== 'invalid' && matchAllowlist(list, h) !== undefined;
}

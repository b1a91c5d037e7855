// OpenSSL's CA database (`index.txt`, as kept by `openssl ca` for easy-rsa): pure parse and format.
// One certificate a line, six TAB-separated fields:
//   status  expiry  revocation  serial  filename  subject
//   V       290227103238Z        C0DA…55  unknown   /CN=srv
//   R       290227103238Z  261125103238Z,keyCompromise  77FE…72  unknown  /CN=cli
// status V (valid), R (revoked), E (expired); times are UTCTime YYMMDDHHMMSSZ (GeneralizedTime
// YYYYMMDDHHMMSSZ from 2050 on); the revocation field is "time[,reason[,argument]]" for R lines and
// empty otherwise; the serial is upper-case hex. OpenSSL refuses the whole file on a malformed line,
// so the parser reports every problem with its line number and the caller decides.

export type IndexStatus = 'V' | 'R' | 'E';

/** The reasons `easyrsa revoke` accepts, in OpenSSL's spelling, with their CRL reason codes. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  CACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

// Extra spellings OpenSSL writes into the revocation field (ca.c, unpack_revinfo), mapped to a reason.
const OPENSSL_REASON_ALIASES: Record<string, RevocationReason> = {
  keyTime: 'keyCompromise',
  CAkeyTime: 'CACompromise',
  holdInstruction: 'certificateHold',
};

export interface IndexEntry {
  readonly status: IndexStatus;
  /** Expiry as written (kept so untouched lines round-trip byte for byte). */
  readonly expiry: string;
  /** Revocation field as written: "" unless status is R. */
  readonly revocation: string;
  /** Serial as written (upper-case hex). */
  readonly serial: string;
  readonly filename: string;
  /** Subject in OpenSSL's one-line form, e.g. "/CN=alice". */
  readonly subject: string;
}

export interface IndexProblem {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

export interface ParsedIndex {
  readonly entries: readonly IndexEntry[];
  readonly problems: readonly IndexProblem[];
}

const MAX_LINE = 64 * 1024;

export function parseIndex(text: string): ParsedIndex {
  const entries: IndexEntry[] = [];
  const problems: IndexProblem[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const parsed = parseIndexLine(line);
    if ('entry' in parsed) entries.push(parsed.entry);
    else problems.push({ line: i + 1, text: line.slice(0, 200), reason: parsed.error });
  });
  return { entries, problems };
}

export function parseIndexLine(line: string): { entry: IndexEntry } | { error: string } {
  if (line.length > MAX_LINE) return { error: `line longer than ${MAX_LINE} characters` };
  const fields = line.split('\t');
  if (fields.length !== 6) return { error: `expected 6 TAB-separated fields, found ${fields.length}` };
  const [status, expiry, revocation, serial, filename, subject] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (status !== 'V' && status !== 'R' && status !== 'E') return { error: `unknown status "${status}"` };
  if (parseOpensslTime(expiry) === undefined) return { error: `bad expiry time "${expiry}"` };
  if (status === 'R') {
    const rev = parseRevocation(revocation);
    if ('error' in rev) return rev;
  } else if (revocation !== '') {
    return { error: `status ${status} with a revocation field "${revocation}"` };
  }
  if (!/^[0-9A-Fa-f]+$/.test(serial)) return { error: `bad serial "${serial}"` };
  if (filename === '') return { error: 'empty filename field (OpenSSL writes "unknown")' };
  if (!subject.startsWith('/')) return { error: `bad subject "${subject}"` };
  return { entry: { status, expiry, revocation, serial, filename, subject } };
}

export interface Revocation {
  readonly date: Date;
  readonly reason: RevocationReason | undefined;
  /** keyTime/CAkeyTime: when the key was compromised. */
  readonly invalidity: Date | undefined;
}

export function parseRevocation(field: string): Revocation | { error: string } {
  const [time = '', reasonWord, arg, ...rest] = field.split(',');
  const date = parseOpensslTime(time);
  if (date === undefined) return { error: `bad revocation time "${time}"` };
  if (rest.length > 0) return { error: `bad revocation field "${field}"` };
  if (reasonWord === undefined) return { date, reason: undefined, invalidity: undefined };
  let reason: RevocationReason | undefined;
  let invalidity: Date | undefined;
  if (reasonWord in REVOCATION_REASONS) reason = reasonWord as RevocationReason;
  else if (reasonWord in OPENSSL_REASON_ALIASES) reason = OPENSSL_REASON_ALIASES[reasonWord];
  else if (reasonWord === 'removeFromCRL') reason = undefined;
  else return { error: `unknown revocation reason "${reasonWord}"` };
  if (reasonWord === 'keyTime' || reasonWord === 'CAkeyTime') {
    invalidity = arg === undefined ? undefined : parseGeneralizedOrUtc(arg);
    if (invalidity === undefined) return { error: `bad compromise time "${arg ?? ''}"` };
  } else if (arg !== undefined && reasonWord !== 'holdInstruction') {
    return { error: `unexpected argument "${arg}" after reason ${reasonWord}` };
  }
  return { date, reason, invalidity };
}

export function formatRevocation(date: Date, reason: RevocationReason | undefined): string {
  return reason === undefined ? formatOpensslTime(date) : `${formatOpensslTime(date)},${reason}`;
}

export function formatIndexLine(e: IndexEntry): string {
  return [e.status, e.expiry, e.revocation, e.serial, e.filename, e.subject].join('\t');
}

export function formatIndex(entries: readonly IndexEntry[]): string {
  return entries.map((e) => `${formatIndexLine(e)}\n`).join('');
}

/** OpenSSL's choice for certificate times: UTCTime for 1950–2049, GeneralizedTime otherwise. */
export function formatOpensslTime(d: Date): string {
  const iso = d.toISOString(); // 2029-02-27T10:32:38.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
}

export function parseOpensslTime(s: string): Date | undefined {
  if (/^\d{12}Z$/.test(s)) {
    const yy = Number(s.slice(0, 2));
    return fromDigits(`${yy >= 50 ? 19 : 20}${s.slice(0, 12)}`);
  }
  if (/^\d{14}Z$/.test(s)) return fromDigits(s.slice(0, 14));
  return undefined;
}

function parseGeneralizedOrUtc(s: string): Date | undefined {
  return parseOpensslTime(s);
}

function fromDigits(d: string): Date | undefined {
  const [y, mo, da, h, mi, se] = [
    d.slice(0, 4),
    d.slice(4, 6),
    d.slice(6, 8),
    d.slice(8, 10),
    d.slice(10, 12),
    d.slice(12, 14),
  ].map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, da, h, mi, se));
  // Reject rollovers such as month 13 or second 61.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== da || date.getUTCHours() !== h) return undefined;
  if (date.getUTCMinutes() !== mi || date.getUTCSeconds() !== se) return undefined;
  return date;
}

/** Serial as OpenSSL prints it (BN_bn2hex): upper-case hex, whole bytes, no leading zero bytes. */
export function normaliseSerial(hex: string): string {
  let s = hex.toUpperCase().replace(/^(00)+/, '');
  if (s.length % 2 === 1) s = `0${s}`;
  return s === '' ? '00' : s;
}

// easy-rsa's settings: the EASYRSA_* variables as easy-rsa 3 resolves them. The command line's
// options become variables first, the environment's stand unless the command line set them, a
// `vars` file's `set_var NAME value` lines fill in only what is still unset (set_var is
// `export NAME="${NAME-value}"`), and easy-rsa's defaults fill in the rest. So: command line >
// environment > vars > defaults. The vars file is read, not run: only set_var lines count, with
// the shell's quoting ('…', "…", \) and $NAME / ${NAME} expansion; what easy-rsa 3.2 refuses in a
// vars file (EASYRSA_PASSIN/PASSOUT, EASYRSA_X=… assignments, export, unset, backticks) is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatehouseError } from '../errors.js';
import type { DnSettings } from './dn.js';
import {
  curveKeyType,
  DEFAULT_KEY_TYPE,
  type Digest,
  type KeyType,
  parseDigest,
  rsaKeyType,
} from './keys.js';

/** easy-rsa 3.1's defaults for what Gatehouse reads (`easyrsa` vars_setup). */
export const EASYRSA_DEFAULTS = {
  EASYRSA_DN: 'cn_only',
  EASYRSA_REQ_COUNTRY: 'US',
  EASYRSA_REQ_PROVINCE: 'California',
  EASYRSA_REQ_CITY: 'San Francisco',
  EASYRSA_REQ_ORG: 'Copyleft Certificate Co',
  EASYRSA_REQ_EMAIL: 'me@example.net',
  EASYRSA_REQ_OU: 'My Organizational Unit',
  EASYRSA_ALGO: 'rsa',
  EASYRSA_KEY_SIZE: '2048',
  EASYRSA_CURVE: 'secp384r1',
  EASYRSA_CA_EXPIRE: '3650',
  EASYRSA_CERT_EXPIRE: '825',
  EASYRSA_CERT_RENEW: '30',
  EASYRSA_CRL_DAYS: '180',
  EASYRSA_REQ_CN: 'ChangeMe',
  EASYRSA_DIGEST: 'sha256',
} as const;

/** Variables whose empty value means "left out" (an org DN field), not "not given". */
const EMPTY_MEANS_EMPTY = new Set([
  'EASYRSA_REQ_COUNTRY',
  'EASYRSA_REQ_PROVINCE',
  'EASYRSA_REQ_CITY',
  'EASYRSA_REQ_ORG',
  'EASYRSA_REQ_EMAIL',
  'EASYRSA_REQ_OU',
]);

export interface VarsProblem {
  readonly line: number;
  readonly message: string;
}

/**
 * Applies a vars file's set_var lines to `scope` (a variable is set only if `scope` has none), as
 * sourcing it under easy-rsa would. Throws GH_ERR_PKI_BAD_INPUT naming FILE:LINE for what easy-rsa
 * refuses or Gatehouse cannot read without running a shell.
 */
export function applyVarsFile(text: string, file: string, scope: Map<string, string>, cwd: string): void {
  const problems: VarsProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = i + 1;
    if (/EASYRSA_PASS(IN|OUT)/.test(line)) {
      problems.push({
        line: at,
        message: 'EASYRSA_PASSIN/EASYRSA_PASSOUT: a vars file may not hold passwords',
      });
      return;
    }
    if (/^(export|unset)\s/.test(line)) {
      problems.push({ line: at, message: `"${line.split(/\s/)[0]}" is not read: write set_var NAME value` });
      return;
    }
    if (/^EASYRSA[A-Z0-9_]*=/.test(line)) {
      problems.push({ line: at, message: 'assignment with "=" is not read: write set_var NAME value' });
      return;
    }
    const m = /^set_var\s+(.*)$/.exec(line);
    if (!m) return; // shell around the settings (vars.example's EASYRSA_CALLER guard): not ours to run
    let words: string[];
    try {
      words = shellWords(m[1] ?? '', (name) =>
        name === 'PWD' ? (scope.get('PWD') ?? cwd) : scope.get(name),
      );
    } catch (err) {
      problems.push({ line: at, message: (err as Error).message });
      return;
    }
    const [name, ...value] = words;
    if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      problems.push({ line: at, message: `set_var needs a variable name, found "${name ?? ''}"` });
      return;
    }
    if (!scope.has(name)) scope.set(name, value.join(' '));
  });
  if (problems.length > 0) {
    throw new GatehouseError(
      'GH_ERR_PKI_BAD_INPUT',
      [`${file}: ${problems.length} setting(s) Gatehouse cannot read`],
      {
        details: problems.map((p) => `${file}:${p.line}: ${p.message}`),
        hint: 'write each setting as `set_var EASYRSA_NAME "value"` (easy-rsa 3.2 refuses the rest too); passphrases go in --passin/--passout',
      },
    );
  }
}

/**
 * The words of a simple shell command line: blanks separate words, '…' is literal, "…" expands
 * $NAME and ${NAME} and knows \" \\ \$ \`, an unquoted # starts a comment. Anything that would
 * need a shell to run (backticks, $(…), ${NAME:-…}, ; | &) is an error.
 */
export function shellWords(s: string, lookup: (name: string) => string | undefined): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expand = (quoted: boolean): void => {
    // at s[i] === '$'
    const rest = s.slice(i + 1);
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
    const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (braced) {
      cur += lookup(braced[1] ?? '') ?? '';
      i += 1 + braced[0].length;
    } else if (plain) {
      cur += lookup(plain[0]) ?? '';
      i += 1 + plain[0].length;
    } else if (rest === '' || /^[\s"]/.test(rest) || (quoted && rest.startsWith('"'))) {
      cur += '$';
      i += 1;
    } else {
      throw new Error(`unsupported shell expansion "$${rest.slice(0, 12)}"`);
    }
  };
  while (i < s.length) {
    const c = s[i] ?? '';
    if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated single quote');
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('unterminated double quote');
        const d = s[i] ?? '';
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1] ?? '')) {
          cur += s[i + 1];
          i += 2;
        } else if (d === '$') {
          expand(true);
        } else if (d === '`') {
          throw new Error('backticks are not supported');
        } else {
          cur += d;
          i++;
        }
      }
    } else if (c === '\\') {
      cur += s[i + 1] ?? '';
      inWord = true;
      i += 2;
    } else if (c === '$') {
      inWord = true;
      expand(false);
    } else if ('`;|&<>()'.includes(c)) {
      throw new Error(`"${c}" needs a shell; only plain set_var lines are read`);
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export interface ResolveInput {
  /** EASYRSA_* values from command-line options (they win over everything). */
  readonly cli: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** false for init-pki, which reads no vars file (as easy-rsa). */
  readonly readVars: boolean;
}

export interface EasyRsaSettings {
  /** The PKI directory, absolute. */
  readonly pki: string;
  readonly batch: boolean;
  readonly silent: boolean;
  readonly caDays: number;
  readonly certDays: number;
  readonly crlDays: number;
  readonly renewDays: number;
  /** EASYRSA_REQ_CN unless it is easy-rsa's placeholder "ChangeMe". */
  readonly reqCn: string | undefined;
  /** The key type easy-rsa's settings ask for, or Gatehouse's default when none of them is set. */
  readonly keyType: KeyType;
  /** True when EASYRSA_ALGO, EASYRSA_KEY_SIZE or EASYRSA_CURVE was given somewhere. */
  readonly keyTypeFromEasyRsa: boolean;
  readonly digest: Digest;
  readonly dn: DnSettings;
  /** The vars file that was read, if any. */
  readonly varsFile: string | undefined;
  /** Notes for stderr (vars files found and not read). */
  readonly warnings: readonly string[];
  /** Every variable as resolved (for tests and for `--vars` diagnostics). */
  readonly vars: ReadonlyMap<string, string>;
}

export function resolveEasyRsaSettings(input: ResolveInput): EasyRsaSettings {
  const scope = new Map<string, string>();
  for (const [k, v] of Object.entries(input.env)) {
    if (v === undefined) continue;
    if (v === '' && k.startsWith('EASYRSA') && !EMPTY_MEANS_EMPTY.has(k)) continue;
    scope.set(k, v);
  }
  for (const [k, v] of Object.entries(input.cli)) scope.set(k, v);
  const warnings: string[] = [];
  let varsFile: string | undefined;
  if (input.readVars && !scope.get('EASYRSA_NO_VARS')) {
    const found = selectVars(scope, input.cwd);
    varsFile = found.file;
    if (found.ignored.length > 0) {
      warnings.push(
        `using ${found.file}; not reading ${found.ignored.join(', ')} (only one vars file is read)`,
      );
    }
    if (varsFile !== undefined) {
      if (found.pkiOfVars !== undefined) scope.set('EASYRSA_PKI', found.pkiOfVars);
      let text: string;
      try {
        text = fs.readFileSync(varsFile, 'utf8');
      } catch (err) {
        throw new GatehouseError('GH_ERR_PKI_IO', ['read the vars file', varsFile], { cause: err });
      }
      applyVarsFile(text, varsFile, scope, input.cwd);
    }
  }
  const get = (name: keyof typeof EASYRSA_DEFAULTS): string => scope.get(name) ?? EASYRSA_DEFAULTS[name];
  const easyrsaDir = scope.get('EASYRSA') ?? input.cwd;
  const pki = path.resolve(input.cwd, scope.get('EASYRSA_PKI') ?? path.join(easyrsaDir, 'pki'));
  const keyTypeFromEasyRsa = ['EASYRSA_ALGO', 'EASYRSA_KEY_SIZE', 'EASYRSA_CURVE'].some((n) => scope.has(n));
  const dnMode = get('EASYRSA_DN');
  if (dnMode !== 'cn_only' && dnMode !== 'org') {
    throw new GatehouseError(
      'GH_ERR_PKI_BAD_INPUT',
      [`unknown DN mode "${dnMode}" (--dn-mode, EASYRSA_DN)`],
      {
        hint: 'use cn_only or org',
      },
    );
  }
  const reqCn = get('EASYRSA_REQ_CN');
  return {
    pki,
    batch: (scope.get('EASYRSA_BATCH') ?? '') !== '',
    silent: (scope.get('EASYRSA_SILENT') ?? '') !== '',
    caDays: days(get('EASYRSA_CA_EXPIRE'), 'EASYRSA_CA_EXPIRE'),
    certDays: days(get('EASYRSA_CERT_EXPIRE'), 'EASYRSA_CERT_EXPIRE'),
    crlDays: days(get('EASYRSA_CRL_DAYS'), 'EASYRSA_CRL_DAYS'),
    renewDays: days(get('EASYRSA_CERT_RENEW'), 'EASYRSA_CERT_RENEW', 0),
    reqCn: reqCn === 'ChangeMe' || reqCn === '' ? undefined : reqCn,
    keyType: keyTypeFromEasyRsa
      ? easyRsaKeyType(get('EASYRSA_ALGO'), get('EASYRSA_KEY_SIZE'), get('EASYRSA_CURVE'))
      : DEFAULT_KEY_TYPE,
    keyTypeFromEasyRsa,
    digest: parseDigest(get('EASYRSA_DIGEST')),
    dn: {
      mode: dnMode,
      country: get('EASYRSA_REQ_COUNTRY'),
      province: get('EASYRSA_REQ_PROVINCE'),
      city: get('EASYRSA_REQ_CITY'),
      org: get('EASYRSA_REQ_ORG'),
      ou: get('EASYRSA_REQ_OU'),
      email: get('EASYRSA_REQ_EMAIL'),
    },
    varsFile,
    warnings,
    vars: scope,
  };
}

/** EASYRSA_ALGO rsa (with EASYRSA_KEY_SIZE), ec or ed (with EASYRSA_CURVE). */
export function easyRsaKeyType(algo: string, keySize: string, curve: string): KeyType {
  if (algo === 'rsa') return rsaKeyType(keySize);
  if (algo === 'ec' || algo === 'ed') return curveKeyType(algo, curve);
  throw new GatehouseError(
    'GH_ERR_PKI_BAD_INPUT',
    [`unknown algorithm "${algo}" (--use-algo, EASYRSA_ALGO)`],
    {
      hint: "use rsa, ec or ed, as easy-rsa's --use-algo",
    },
  );
}

function days(s: string, name: string, min = 1): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < min || n > 36500) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad number of days "${s}" (${name} or --days)`], {
      hint: 'give a whole number of days between 1 and 36500',
    });
  }
  return n;
}

interface VarsChoice {
  readonly file: string | undefined;
  readonly ignored: readonly string[];
  /** When the file is PKI/vars, that PKI: a vars file inside a PKI does not move it elsewhere. */
  readonly pkiOfVars: string | undefined;
}

/**
 * easy-rsa 3.2's order (select_vars): --vars / EASYRSA_VARS_FILE alone if given (it must exist);
 * else the first that exists of $EASYRSA_PKI/vars, $EASYRSA/vars, ./pki/vars (when neither is
 * set) and ./vars. easy-rsa 3.1 stops when more than one exists; Gatehouse reads the first and
 * names the others.
 */
function selectVars(scope: Map<string, string>, cwd: string): VarsChoice {
  const explicit = scope.get('EASYRSA_VARS_FILE');
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!fs.existsSync(file)) {
      throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`the vars file ${file} was not found (--vars)`], {
        hint: 'give the path of an existing vars file',
      });
    }
    return { file, ignored: [], pkiOfVars: undefined };
  }
  const candidates: [string, string | undefined][] = [];
  const pkiDir = scope.get('EASYRSA_PKI');
  const easyrsa = scope.get('EASYRSA');
  if (pkiDir) candidates.push([path.resolve(cwd, pkiDir, 'vars'), path.resolve(cwd, pkiDir)]);
  if (easyrsa) candidates.push([path.resolve(cwd, easyrsa, 'vars'), undefined]);
  if (!pkiDir && !easyrsa) candidates.push([path.resolve(cwd, 'pki', 'vars'), path.resolve(cwd, 'pki')]);
  candidates.push([path.resolve(cwd, 'vars'), undefined]);
  const seen = new Set<string>();
  const existing = candidates.filter(([f]) => {
    if (seen.has(f)) return false;
    seen.add(f);
    return isFile(f);
  });
  const first = existing[0];
  if (!first) return { file: undefined, ignored: [], pkiOfVars: undefined };
  return { file: first[0], ignored: existing.slice(1).map(([f]) => f), pkiOfVars: first[1] };
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The `vars` init-pki writes (easy-rsa copies its vars.example there): every setting Gatehouse reads, commented out. */
export const VARS_TEMPLATE = `# easy-rsa settings for this PKI, read by \`gatehouse pki\` and by easy-rsa.
# Uncomment a set_var line to change a default. The command line (--days=N, --use-algo=ec, …) and
# the environment (EASYRSA_CERT_EXPIRE=…) win over this file. Only set_var lines are read.
# Passphrases never go here (easy-rsa refuses a vars file that names them): use --passin/--passout.

# Subject: cn_only (CN only) or org (C, ST, L, O, OU, CN, emailAddress below).
#set_var EASYRSA_DN	"cn_only"
#set_var EASYRSA_REQ_COUNTRY	"US"
#set_var EASYRSA_REQ_PROVINCE	"California"
#set_var EASYRSA_REQ_CITY	"San Francisco"
#set_var EASYRSA_REQ_ORG	"Copyleft Certificate Co"
#set_var EASYRSA_REQ_EMAIL	"me@example.net"
#set_var EASYRSA_REQ_OU	"My Organizational Unit"

# Keys: rsa (EASYRSA_KEY_SIZE bits), ec (EASYRSA_CURVE) or ed (ed25519). With none of these three
# set, gatehouse makes EC P-256 keys; once one is set, easy-rsa's defaults apply to the others.
#set_var EASYRSA_ALGO	rsa
#set_var EASYRSA_KEY_SIZE	2048
#set_var EASYRSA_CURVE	secp384r1
#set_var EASYRSA_DIGEST	"sha256"

# Lifetimes in days.
#set_var EASYRSA_CA_EXPIRE	3650
#set_var EASYRSA_CERT_EXPIRE	825
#set_var EASYRSA_CERT_RENEW	30
#set_var EASYRSA_CRL_DAYS	180
`;

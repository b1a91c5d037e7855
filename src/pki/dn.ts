// Distinguished names as easy-rsa makes them and `openssl ca` keeps them: the subject of a new
// request (cn_only: CN; org: C, ST, L, O, OU, CN, emailAddress, as openssl-easyrsa.cnf's [org]
// section lists them, empty values left out), the subject `openssl ca` signs (policy_anything with
// preserve = no: the policy's fields in the policy's order, each value with the string type the
// request had, anything else dropped), and the two ways OpenSSL prints a name: index.txt's one-line
// form (X509_NAME_oneline) and easy-rsa's show-* form (-nameopt utf8,sep_multiline,space_eq,lname,align).
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  Name as AsnName,
  RelativeDistinguishedName,
} from '@peculiar/asn1-x509';
import { GatehouseError } from '../errors.js';
import { x509 } from './x509.js';

interface FieldInfo {
  readonly oid: string;
  readonly short: string;
  readonly long: string;
  readonly min: number;
  readonly max: number;
}

// OpenSSL's names and its ASN1_STRING_TABLE limits (a_strnid.c); commonName and emailAddress also
// carry openssl-easyrsa.cnf's _max of 64.
const FIELDS: readonly FieldInfo[] = [
  { oid: '2.5.4.6', short: 'C', long: 'countryName', min: 2, max: 2 },
  { oid: '2.5.4.8', short: 'ST', long: 'stateOrProvinceName', min: 1, max: 128 },
  { oid: '2.5.4.7', short: 'L', long: 'localityName', min: 1, max: 128 },
  { oid: '2.5.4.10', short: 'O', long: 'organizationName', min: 1, max: 64 },
  { oid: '2.5.4.11', short: 'OU', long: 'organizationalUnitName', min: 1, max: 64 },
  { oid: '2.5.4.3', short: 'CN', long: 'commonName', min: 1, max: 64 },
  { oid: '2.5.4.41', short: 'name', long: 'name', min: 1, max: 32768 },
  { oid: '1.2.840.113549.1.9.1', short: 'emailAddress', long: 'emailAddress', min: 1, max: 64 },
];
const BY_OID = new Map(FIELDS.map((f) => [f.oid, f]));
const OID = Object.fromEntries(FIELDS.map((f) => [f.short, f.oid])) as Record<string, string>;
const COMMON_NAME_OID = '2.5.4.3';

// A few more names OpenSSL knows, for printing subjects of requests made elsewhere.
const OTHER_NAMES: Record<string, [string, string]> = {
  '2.5.4.5': ['serialNumber', 'serialNumber'],
  '2.5.4.4': ['SN', 'surname'],
  '2.5.4.42': ['GN', 'givenName'],
  '2.5.4.12': ['title', 'title'],
  '2.5.4.9': ['street', 'streetAddress'],
  '2.5.4.17': ['postalCode', 'postalCode'],
  '0.9.2342.19200300.100.1.25': ['DC', 'domainComponent'],
  '0.9.2342.19200300.100.1.1': ['UID', 'userId'],
};

/** easy-rsa's DN settings (EASYRSA_DN and the EASYRSA_REQ_* org fields). */
export interface DnSettings {
  readonly mode: 'cn_only' | 'org';
  readonly country?: string;
  readonly province?: string;
  readonly city?: string;
  readonly org?: string;
  readonly ou?: string;
  readonly email?: string;
}

/** The subject `openssl req -utf8 -batch` makes from easy-rsa's [cn_only] or [org] section. */
export function requestSubject(cn: string, dn: DnSettings = { mode: 'cn_only' }): x509.Name {
  const fields: [string, string][] =
    dn.mode === 'org'
      ? [
          ['C', dn.country ?? ''],
          ['ST', dn.province ?? ''],
          ['L', dn.city ?? ''],
          ['O', dn.org ?? ''],
          ['OU', dn.ou ?? ''],
          ['CN', cn],
          ['emailAddress', dn.email ?? ''],
        ]
      : [['CN', cn]];
  const rdns: RelativeDistinguishedName[] = [];
  for (const [short, value] of fields) {
    if (value === '' && short !== 'CN') continue; // openssl req leaves an empty field out
    const info = BY_OID.get(OID[short] ?? '');
    if (!info) continue;
    checkField(info, value);
    rdns.push(new RelativeDistinguishedName([attribute(info.oid, stringValue(short, value))]));
  }
  return new x509.Name(AsnConvert.serialize(new AsnName(rdns)));
}

/** OpenSSL's types with string_mask utf8only: countryName PrintableString, emailAddress IA5String, the rest UTF8String. */
function stringValue(short: string, value: string): AttributeValue {
  if (short === 'C') return new AttributeValue({ printableString: value });
  if (short === 'emailAddress') return new AttributeValue({ ia5String: value });
  return new AttributeValue({ utf8String: value });
}

function attribute(type: string, value: AttributeValue): AttributeTypeAndValue {
  return new AttributeTypeAndValue({ type, value });
}

function checkField(info: FieldInfo, value: string): void {
  const len = [...value].length;
  const bad = (why: string) =>
    new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad ${info.long} "${value}": ${why}`], {
      hint: `${info.long} takes ${info.min === info.max ? info.min : `${info.min}–${info.max}`} characters`,
    });
  if (len < info.min || len > info.max) throw bad('wrong length');
  if (/[\0\n\r]/.test(value)) throw bad('control characters');
  if (info.short === 'C' && !/^[A-Za-z]{2}$/.test(value)) throw bad('two letters expected');
  if (info.short === 'emailAddress' && !/^[\x20-\x7e]+$/.test(value)) throw bad('ASCII expected');
}

/** The ASN.1 form of a name (for reordering and printing with the string types kept). */
export function asnName(name: x509.Name): AsnName {
  return AsnConvert.parse(name.toArrayBuffer(), AsnName);
}

/**
 * The subject `openssl ca` signs for a request under easy-rsa's policy_anything with preserve = no:
 * for each policy field in order, every value the request has (commonName must be there).
 */
export function policySubject(requestSubjectName: x509.Name): x509.Name {
  const entries = asnName(requestSubjectName).flatMap((rdn) => [...rdn]);
  const rdns: RelativeDistinguishedName[] = [];
  for (const f of FIELDS) {
    for (const e of entries) {
      if (e.type === f.oid) rdns.push(new RelativeDistinguishedName([attribute(e.type, e.value)]));
    }
  }
  if (!entries.some((e) => e.type === COMMON_NAME_OID)) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['the request has no commonName'], {
      hint: 'easy-rsa\'s policy ("commonName = supplied") needs a CN in the request subject',
    });
  }
  return new x509.Name(AsnConvert.serialize(new AsnName(rdns)));
}

/** The first CN of a name, if any. */
export function commonNameOfName(name: x509.Name): string | undefined {
  for (const rdn of asnName(name)) {
    for (const e of rdn) if (e.type === COMMON_NAME_OID) return e.value.toString();
  }
  return undefined;
}

function shortName(oid: string): string {
  return BY_OID.get(oid)?.short ?? OTHER_NAMES[oid]?.[0] ?? oid;
}

function longName(oid: string): string {
  return BY_OID.get(oid)?.long ?? OTHER_NAMES[oid]?.[1] ?? oid;
}

/** The bytes OpenSSL prints for a value: the string's own encoding (UTF-8 for UTF8String). */
function valueBytes(v: AttributeValue): Buffer {
  if (v.bmpString !== undefined) return Buffer.from(v.bmpString, 'utf16le').swap16();
  if (v.anyValue !== undefined) return Buffer.from(v.anyValue);
  return Buffer.from(v.toString(), v.utf8String !== undefined ? 'utf8' : 'latin1');
}

/**
 * X509_NAME_oneline as OpenSSL 3 writes it into index.txt: "/C=US/O=Acme\/Inc/CN=alice", bytes
 * outside printable ASCII as \xHH, "/" and "+" escaped with a backslash.
 */
export function onelineName(name: x509.Name): string {
  let out = '';
  for (const rdn of asnName(name)) {
    for (const e of rdn) {
      out += `/${shortName(e.type)}=`;
      for (const b of valueBytes(e.value)) {
        const ch = String.fromCharCode(b);
        if (ch === '/' || ch === '+') out += `\\${ch}`;
        else if (b < 0x20 || b > 0x7e) out += `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
        else out += ch;
      }
    }
  }
  return out;
}

/**
 * The name as easy-rsa's show-* print it (-nameopt utf8,sep_multiline,space_eq,lname,align): one
 * "longName<padded to 25> = value" line per attribute, RFC 2253 characters escaped.
 */
export function multilineName(name: x509.Name, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const rdn of asnName(name)) {
    for (const e of rdn) {
      lines.push(`${pad}${longName(e.type).padEnd(25)} = ${escape2253(e.value.toString())}`);
    }
  }
  return lines;
}

/** OpenSSL's one-line RFC 2253-ish form ("CN = My CA, O = Acme"), as the CRL issuer line shows it. */
export function onelineSpacedName(name: x509.Name): string {
  return asnName(name)
    .map((rdn) => [...rdn].map((e) => `${shortName(e.type)} = ${escape2253(e.value.toString())}`).join(' + '))
    .join(', ');
}

function escape2253(s: string): string {
  let out = s.replace(/[,+"\\<>;]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

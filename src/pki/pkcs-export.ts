// export-p12 and export-p7, as easy-rsa writes them: private/NAME.p12 (the certificate, the CA
// unless "noca", the key unless "nokey", protected by the --passout password, or by the empty
// password with "nopass") and issued/NAME.p7b (PEM PKCS7, the certificate then the CA, as
// `openssl crl2pkcs7 -nocrl` makes it). The PKCS#12 follows OpenSSL 3's defaults where readers
// care: the key in a PBES2/AES-256-CBC shrouded bag, an HMAC-SHA256 MAC over the PKCS#12 KDF,
// 2048 iterations, localKeyId on the key and its certificate. The certificates are not encrypted
// (OpenSSL's `-certpbe NONE`): they are public, and every reader takes an unencrypted bag.
import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { ContentInfo, id_data } from '@peculiar/asn1-cms';
import {
  AuthenticatedSafe,
  CertBag,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
  MacData,
  PFX,
  PKCS12Attribute,
  SafeBag,
  SafeContents,
} from '@peculiar/asn1-pfx';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { GatehouseError } from '../errors.js';
import { loadPrivateKey } from './keys.js';
import { checkLookupName } from './names.js';
import {
  assertInitialised,
  pkiLayout,
  PRIVATE_FILE_MODE,
  PUBLIC_FILE_MODE,
  readTextIfExists,
  writeFileAtomic,
} from './store.js';
import { x509 } from './x509.js';

const ITERATIONS = 2048;
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';

export interface P12Options {
  /** The PKCS#12 password; "" for easy-rsa's nopass. */
  readonly password: string;
  /** Passphrase of private/NAME.key, when it is encrypted. */
  readonly passin?: string;
  readonly includeCa?: boolean;
  readonly includeKey?: boolean;
  /** easy-rsa's usefn: NAME as the friendly name. */
  readonly friendlyName?: string;
}

export function exportP12(dir: string, name: string, opts: P12Options): string {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertInitialised(l);
  const cert = readCert(l.issued(name), `export p12 for ${name}`);
  const certs = [cert];
  if (opts.includeCa !== false) certs.push(readCert(l.caCrt, 'include the CA (or add noca)'));
  let key: KeyObject | undefined;
  if (opts.includeKey !== false) {
    const pem = readTextIfExists(l.key(name));
    if (pem === undefined) {
      throw new GatehouseError(
        'GH_ERR_PKI_BAD_INPUT',
        [`no private key for ${name}: ${l.key(name)} is missing`],
        {
          hint: 'add nokey for a PKCS#12 without the key',
        },
      );
    }
    key = loadPrivateKey(pem, `key ${l.key(name)}`, opts.passin);
  }
  const der = pkcs12(certs, key, opts.password, opts.friendlyName);
  const out = `${l.privateDir}/${name}.p12`;
  writeFileAtomic(out, der, PRIVATE_FILE_MODE);
  return out;
}

export function exportP7(dir: string, name: string, opts: { includeCa?: boolean } = {}): string {
  const l = pkiLayout(dir);
  checkLookupName(name);
  assertInitialised(l);
  const certs = [readCert(l.issued(name), `export p7 for ${name}`)];
  if (opts.includeCa !== false) certs.push(readCert(l.caCrt, 'include the CA (or add noca)'));
  const der = Buffer.from(new x509.X509Certificates(certs).export('raw'));
  const out = l.issued(name).replace(/\.crt$/, '.p7b');
  writeFileAtomic(out, pemWrap('PKCS7', der), PUBLIC_FILE_MODE);
  return out;
}

function readCert(file: string, what: string): x509.X509Certificate {
  const pem = readTextIfExists(file);
  if (pem === undefined) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`cannot ${what}: ${file} is missing`]);
  }
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new GatehouseError('GH_ERR_PKI_CORRUPT', [`${file} is not a PEM certificate`], { cause: err });
  }
}

function pemWrap(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The PFX: certificates (the first one is the key's) and the key, MACed with `password`. */
export function pkcs12(
  certs: readonly x509.X509Certificate[],
  key: KeyObject | undefined,
  password: string,
  friendlyName?: string,
): Buffer {
  const first = certs[0];
  const keyId = first ? createHash('sha1').update(Buffer.from(first.rawData)).digest() : Buffer.alloc(0);
  const ownAttrs = (): PKCS12Attribute[] => {
    const attrs = key ? [attribute(OID_LOCAL_KEY_ID, new OctetString(keyId))] : [];
    if (friendlyName !== undefined) attrs.push(attribute(OID_FRIENDLY_NAME, bmpString(friendlyName)));
    return attrs;
  };
  const certBags = certs.map(
    (c, i) =>
      new SafeBag({
        bagId: id_certBag,
        bagValue: AsnConvert.serialize(
          new CertBag({
            certId: id_x509Certificate,
            certValue: AsnConvert.serialize(new OctetString(c.rawData)),
          }),
        ),
        ...(i === 0 && ownAttrs().length > 0 ? { bagAttributes: ownAttrs() } : {}),
      }),
  );
  const safes = [dataContent(AsnConvert.serialize(new SafeContents(certBags)))];
  if (key) {
    const shrouded = key.export({
      type: 'pkcs8',
      format: 'der',
      cipher: 'aes-256-cbc',
      passphrase: password,
    });
    const keyBag = new SafeBag({
      bagId: id_pkcs8ShroudedKeyBag,
      bagValue: toArrayBuffer(shrouded),
      bagAttributes: ownAttrs(),
    });
    safes.push(dataContent(AsnConvert.serialize(new SafeContents([keyBag]))));
  }
  const authSafe = Buffer.from(AsnConvert.serialize(new AuthenticatedSafe(safes)));
  const salt = randomBytes(8);
  const macKey = pkcs12Kdf(password, salt, 3, ITERATIONS, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const pfx = new PFX({
    version: 3,
    authSafe: dataContent(toArrayBuffer(authSafe)),
    macData: new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID_SHA256, parameters: null }),
        digest: new OctetString(mac),
      }),
      macSalt: new OctetString(salt),
      iterations: ITERATIONS,
    }),
  });
  return Buffer.from(AsnConvert.serialize(pfx));
}

function dataContent(der: ArrayBuffer): ContentInfo {
  return new ContentInfo({ contentType: id_data, content: AsnConvert.serialize(new OctetString(der)) });
}

function attribute(oid: string, value: OctetString | ArrayBuffer): PKCS12Attribute {
  const der = value instanceof ArrayBuffer ? value : AsnConvert.serialize(value);
  // PKCS12Attribute's constructor drops its argument (asn1-pfx 2.x), so the fields are set here.
  const a = new PKCS12Attribute();
  a.attrId = oid;
  a.attrValues = [der];
  return a;
}

/** A DER BMPString (tag 0x1E) of `s`, for friendlyName. */
function bmpString(s: string): ArrayBuffer {
  const body = Buffer.from(s, 'utf16le').swap16();
  if (body.length > 127) throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['friendly name too long']);
  return toArrayBuffer(Buffer.concat([Buffer.from([0x1e, body.length]), body]));
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return new Uint8Array(b).buffer;
}

/**
 * RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64): the MAC key from the password as a
 * big-endian BMPString with its two-byte terminator, as OpenSSL derives it.
 */
export function pkcs12Kdf(password: string, salt: Buffer, id: number, iterations: number, n: number): Buffer {
  const u = 32;
  const v = 64;
  const pass = Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
  const fill = (b: Buffer): Buffer => {
    if (b.length === 0) return b;
    const len = v * Math.ceil(b.length / v);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = b[i % b.length] ?? 0;
    return out;
  };
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([fill(salt), fill(pass)]);
  const out: Buffer[] = [];
  for (let c = 0; c < Math.ceil(n / u); c++) {
    let a = createHash('sha256').update(d).update(i).digest();
    for (let r = 1; r < iterations; r++) a = createHash('sha256').update(a).digest();
    out.push(a);
    const b = fill(a);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (i[j + k] ?? 0) + (b[k] ?? 0) + carry;
        i[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n);
}

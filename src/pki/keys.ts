// Private keys: generate, write as PKCS#8 PEM (as `openssl genpkey` does for easy-rsa), optionally
// encrypted with AES-256, read back (any PEM OpenSSL writes), and hand to WebCrypto for signing.
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { GatehouseError } from '../errors.js';
import type { DomCryptoKey } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The key types --key-type offers; easy-rsa's settings (--use-algo, --keysize) also reach other RSA sizes. */
export const KEY_TYPES = [
  'ec-p256',
  'ec-p384',
  'ec-p521',
  'ed25519',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
] as const;
export type KeyType = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'ed25519' | `rsa-${number}`;
export const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

/** RSA sizes Gatehouse makes: OpenSSL's own floor for new keys is lower, ours is today's advice. */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 16384;

/** Digests easy-rsa's --digest / EASYRSA_DIGEST may name that WebCrypto signs with. */
export const DIGESTS = ['sha256', 'sha384', 'sha512'] as const;
export type Digest = (typeof DIGESTS)[number];
export const DEFAULT_DIGEST: Digest = 'sha256';

const KEY_TYPE_ALIASES: Record<string, KeyType> = {
  ec: 'ec-p256',
  p256: 'ec-p256',
  'p-256': 'ec-p256',
  prime256v1: 'ec-p256',
  p384: 'ec-p384',
  'p-384': 'ec-p384',
  secp384r1: 'ec-p384',
  p521: 'ec-p521',
  'p-521': 'ec-p521',
  secp521r1: 'ec-p521',
  rsa: 'rsa-2048',
  rsa2048: 'rsa-2048',
  rsa3072: 'rsa-3072',
  rsa4096: 'rsa-4096',
};

export function parseKeyType(s: string): KeyType {
  const lower = s.toLowerCase();
  if ((KEY_TYPES as readonly string[]).includes(lower)) return lower as KeyType;
  const alias = KEY_TYPE_ALIASES[lower];
  if (alias) return alias;
  const rsa = /^rsa-?(\d+)$/.exec(lower);
  if (rsa) return rsaKeyType(rsa[1] ?? '');
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unknown key type "${s}"`], {
    hint: `use one of ${KEY_TYPES.join(', ')}`,
  });
}

/** rsa-BITS for a key size given as text (--keysize, EASYRSA_KEY_SIZE). */
export function rsaKeyType(bits: string): KeyType {
  const n = /^\d+$/.test(bits) ? Number(bits) : NaN;
  if (!Number.isInteger(n) || n < MIN_RSA_BITS || n > MAX_RSA_BITS || n % 8 !== 0) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad RSA key size "${bits}"`], {
      hint: `give a number of bits from ${MIN_RSA_BITS} to ${MAX_RSA_BITS} (2048, 3072, 4096)`,
    });
  }
  return `rsa-${n}`;
}

/** The key type for easy-rsa's EASYRSA_CURVE with --use-algo=ec or ed. */
export function curveKeyType(algo: 'ec' | 'ed', curve: string): KeyType {
  const c = curve.toLowerCase();
  if (algo === 'ed') {
    if (c === 'ed25519') return 'ed25519';
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unsupported Edwards curve "${curve}"`], {
      hint: 'Gatehouse makes ed25519 keys (--use-algo=ed --curve=ed25519); ed448 is not supported',
    });
  }
  const t = KEY_TYPE_ALIASES[c];
  if (t?.startsWith('ec-')) return t;
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unsupported elliptic curve "${curve}"`], {
    hint: 'use prime256v1, secp384r1 or secp521r1 (the curves WebCrypto signs with)',
  });
}

export function parseDigest(s: string): Digest {
  const d = s.toLowerCase().replace('-', '');
  if ((DIGESTS as readonly string[]).includes(d)) return d as Digest;
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unsupported digest "${s}"`], {
    hint: `use one of ${DIGESTS.join(', ')}`,
  });
}

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const EC_CURVES: Record<string, string> = {
  'ec-p256': 'prime256v1',
  'ec-p384': 'secp384r1',
  'ec-p521': 'secp521r1',
};

export async function generateKey(type: KeyType): Promise<KeyPair> {
  const namedCurve = EC_CURVES[type];
  if (namedCurve) return generateKeyPairAsync('ec', { namedCurve });
  if (type === 'ed25519') return generateKeyPairAsync('ed25519');
  const bits = Number(type.slice(4));
  return generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
}

/** PKCS#8 PEM; with a passphrase, `BEGIN ENCRYPTED PRIVATE KEY` (PBES2, AES-256-CBC) as `openssl genpkey -aes256`. */
export function privateKeyPem(key: KeyObject, passphrase?: string): string {
  if (passphrase === undefined) return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString();
}

export function isEncryptedPem(pem: string): boolean {
  return pem.includes('BEGIN ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(pem);
}

/** Reads a private key PEM; `what` names it in errors ("CA key private/ca.key"). */
export function loadPrivateKey(pem: string, what: string, passphrase?: string): KeyObject {
  const encrypted = isEncryptedPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', [`${what} is encrypted and no passphrase was given`]);
  }
  try {
    return createPrivateKey(
      encrypted ? { key: pem, format: 'pem', passphrase } : { key: pem, format: 'pem' },
    );
  } catch (err) {
    if (encrypted) {
      throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', [`cannot decrypt ${what}: wrong passphrase?`], {
        cause: err,
      });
    }
    throw new GatehouseError(
      'GH_ERR_PKI_CORRUPT',
      [`${what} is not a private key OpenSSL or Node can read`],
      {
        cause: err,
      },
    );
  }
}

export function publicKeyOf(key: KeyObject): KeyObject {
  return createPublicKey(key);
}

/** Human description: "EC P-256", "RSA 4096". */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `EC ${d.namedCurve ?? '?'}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  return String(key.asymmetricKeyType);
}

export interface WebSigner {
  readonly privateKey: DomCryptoKey;
  readonly publicKey: DomCryptoKey;
  /** What to pass as `signingAlgorithm` to the certificate, request and CRL generators. */
  readonly signingAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams | webcrypto.Algorithm;
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/**
 * Imports a key pair into WebCrypto, signing with SHA-256 (easy-rsa's default digest) or `digest`;
 * Ed25519 signs without a separate digest, as OpenSSL does.
 */
export async function webSigner(privateKey: KeyObject, digest: Digest = DEFAULT_DIGEST): Promise<WebSigner> {
  const publicKey = publicKeyOf(privateKey);
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const hash = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' }[digest];
  let importAlg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  let signingAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams | webcrypto.Algorithm;
  if (privateKey.asymmetricKeyType === 'rsa') {
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash };
    signingAlgorithm = importAlg;
  } else if (privateKey.asymmetricKeyType === 'ec') {
    const curve = CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw unsupported(privateKey);
    importAlg = { name: 'ECDSA', namedCurve: curve };
    signingAlgorithm = { name: 'ECDSA', hash };
  } else if (privateKey.asymmetricKeyType === 'ed25519') {
    importAlg = { name: 'Ed25519' };
    signingAlgorithm = importAlg;
  } else {
    throw unsupported(privateKey);
  }
  const subtle = webcrypto.subtle;
  return {
    privateKey: (await subtle.importKey('pkcs8', pkcs8, importAlg, false, [
      'sign',
    ])) as unknown as DomCryptoKey,
    publicKey: (await subtle.importKey('spki', spki, importAlg, true, ['verify'])) as unknown as DomCryptoKey,
    signingAlgorithm,
  };
}

function unsupported(key: KeyObject): GatehouseError {
  return new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unsupported key type ${describeKey(key)}`], {
    hint: 'Gatehouse signs with RSA, EC (P-256, P-384, P-521) or Ed25519 keys',
  });
}

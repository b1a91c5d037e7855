// Private keys: generate, write as PKCS#8 PEM (as `openssl genpkey` does for easy-rsa), optionally
// encrypted with AES-256, read back (any PEM OpenSSL writes), and hand to WebCrypto for signing.
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { GatehouseError } from '../errors.js';
import type { DomCryptoKey } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

const KEY_TYPE_ALIASES: Record<string, KeyType> = {
  ec: 'ec-p256',
  p256: 'ec-p256',
  'p-256': 'ec-p256',
  prime256v1: 'ec-p256',
  p384: 'ec-p384',
  'p-384': 'ec-p384',
  secp384r1: 'ec-p384',
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
  throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`unknown key type "${s}"`], {
    hint: `use one of ${KEY_TYPES.join(', ')}`,
  });
}

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export async function generateKey(type: KeyType): Promise<KeyPair> {
  if (type === 'ec-p256' || type === 'ec-p384') {
    return generateKeyPairAsync('ec', { namedCurve: type === 'ec-p256' ? 'prime256v1' : 'secp384r1' });
  }
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
  return String(key.asymmetricKeyType);
}

export interface WebSigner {
  readonly privateKey: DomCryptoKey;
  readonly publicKey: DomCryptoKey;
  /** What to pass as `signingAlgorithm` to the certificate, request and CRL generators. */
  readonly signingAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Imports a key pair into WebCrypto with SHA-256 signatures (easy-rsa's default digest). */
export async function webSigner(privateKey: KeyObject): Promise<WebSigner> {
  const publicKey = publicKeyOf(privateKey);
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  let importAlg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  let signingAlgorithm: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;
  if (privateKey.asymmetricKeyType === 'rsa') {
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    signingAlgorithm = importAlg;
  } else if (privateKey.asymmetricKeyType === 'ec') {
    const curve = CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw unsupported(privateKey);
    importAlg = { name: 'ECDSA', namedCurve: curve };
    signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
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
    hint: 'Gatehouse signs with RSA or EC (P-256, P-384, P-521) keys',
  });
}

// The one door to @peculiar/x509. It resolves its algorithm providers through tsyringe, which needs a
// Reflect metadata polyfill evaluated first, and it signs through WebCrypto, which we take from Node.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

/** @peculiar/x509 types keys with the DOM's CryptoKey; Node's webcrypto.CryptoKey is the same object. */
export type DomCryptoKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

export { x509 };

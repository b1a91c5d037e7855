// The checks an ID token must pass before the login endpoint signs anything (OpenID Connect Core
// 3.1.3.7): signed with an asymmetric algorithm by a key of the configured provider, issued by
// exactly that issuer, addressed to our client (and, among several audiences, authorized for
// it), within its validity (a minute of clock skew), and bound to the request by its nonce.
//
// The nonce binds a token to one key pair: the client asks the provider for
// nonce = base64url(SHA-256(DER SubjectPublicKeyInfo of the key it will have certified)), so a
// token that leaks is no use with any other key. Providers that run the device grant do not echo a
// nonce (RFC 8628 has none); such a token is taken only when the client says it came from the
// device grant and it was issued within the last few minutes, and, like every token, only once
// (the caller's replay cache).
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { loadJose } from './jose-lazy.js';
import { describeFetchError, ProviderUnreachable } from './oidc-provider-keys.js';

/** Why a token is refused: the values of the login audit line's `reason`. */
export type TokenRefusal =
  | 'bad_token'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'nonce_mismatch'
  | 'stale_token';

export type TokenCheck =
  | { ok: true; claims: JWTPayload }
  | { ok: false; reason: TokenRefusal; detail: string }
  | { ok: false; reason: 'provider_unreachable'; detail: string };

/** Asymmetric signatures only: an HMAC token would be signed with a secret every user's profile holds. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CLOCK_TOLERANCE_S = 60;
/** A token without a nonce (device grant) must have been issued this recently. */
export const NONCE_LESS_MAX_AGE_S = 300;

export interface TokenExpectations {
  readonly issuer: string;
  readonly clientId: string;
  readonly keys: () => Promise<JWTVerifyGetKey>;
  /** The nonce that binds the token to the key of the signing request (pki loginNonce()). */
  readonly nonce: string;
  /** The client says the token came from the device grant: a missing nonce is then allowed. */
  readonly deviceGrant: boolean;
}

export async function checkIdToken(token: string, want: TokenExpectations): Promise<TokenCheck> {
  let keys: JWTVerifyGetKey;
  try {
    keys = await want.keys();
  } catch (err) {
    if (err instanceof ProviderUnreachable)
      return { ok: false, reason: 'provider_unreachable', detail: err.detail };
    throw err;
  }
  const { errors, jwtVerify } = await loadJose();
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      issuer: want.issuer,
      audience: want.clientId,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['sub', 'exp', 'iat'],
    }));
  } catch (err) {
    return refusalOf(err, want, errors);
  }
  // Several audiences: the token must also be authorized for us (azp), or it was meant for another.
  if (Array.isArray(claims.aud) && claims.aud.length > 1 && claims.azp !== want.clientId)
    return {
      ok: false,
      reason: 'wrong_audience',
      detail: `the token has several audiences and azp ${JSON.stringify(claims.azp)}, not ${want.clientId}`,
    };
  if (claims.nonce === undefined) {
    const age = Math.floor(Date.now() / 1000) - (claims.iat ?? 0);
    if (!want.deviceGrant)
      return { ok: false, reason: 'nonce_mismatch', detail: 'the token carries no nonce' };
    if (age > NONCE_LESS_MAX_AGE_S + CLOCK_TOLERANCE_S)
      return {
        ok: false,
        reason: 'stale_token',
        detail: `a token without a nonce must be used within ${NONCE_LESS_MAX_AGE_S} s of its issue; this one is ${age} s old`,
      };
  } else if (claims.nonce !== want.nonce) {
    return {
      ok: false,
      reason: 'nonce_mismatch',
      detail: 'the token was asked for another key (its nonce does not match the signing request)',
    };
  }
  return { ok: true, claims };
}

function refusalOf(err: unknown, want: TokenExpectations, errors: typeof import('jose').errors): TokenCheck {
  if (err instanceof errors.JWTExpired)
    return { ok: false, reason: 'expired', detail: `the ID token expired at ${expiry(err.payload)}` };
  if (err instanceof errors.JWTClaimValidationFailed) {
    const got = err.payload[err.claim];
    switch (err.claim) {
      case 'aud':
        return {
          ok: false,
          reason: 'wrong_audience',
          detail: `the token is for ${JSON.stringify(got)}, this endpoint's client is ${want.clientId}`,
        };
      case 'iss':
        return {
          ok: false,
          reason: 'wrong_issuer',
          detail: `the token was issued by ${JSON.stringify(got)}, not ${want.issuer}`,
        };
      case 'nbf':
      case 'iat':
        return {
          ok: false,
          reason: 'not_yet_valid',
          detail: `${err.claim} is in the future: ${err.message}`,
        };
      default:
        return { ok: false, reason: 'bad_token', detail: err.message };
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey)
    return {
      ok: false,
      reason: 'bad_signature',
      detail: `the signature does not verify against the keys of ${want.issuer}`,
    };
  if (err instanceof errors.JOSEAlgNotAllowed)
    return {
      ok: false,
      reason: 'bad_signature',
      detail: `${err.message}; only asymmetric signatures are taken`,
    };
  if (err instanceof errors.JWKSTimeout)
    return { ok: false, reason: 'provider_unreachable', detail: 'its key set did not answer in time' };
  if (err instanceof errors.JOSEError) return { ok: false, reason: 'bad_token', detail: err.message };
  // The key set fetch itself failed (connection refused, TLS): the provider, not the token.
  return { ok: false, reason: 'provider_unreachable', detail: describeFetchError(err) };
}

function expiry(payload: JWTPayload): string {
  return typeof payload.exp === 'number' ? new Date(payload.exp * 1000).toISOString() : '?';
}

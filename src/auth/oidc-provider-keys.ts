// An OpenID provider's signing keys, as the login endpoint needs them to check ID tokens: the
// provider's discovery document (its `issuer` must be exactly the configured one) names its
// jwks_uri, and jose's remote key set fetches, caches and refreshes the keys from there (a token
// with an unknown `kid` makes it fetch again, at most every 30 s: key rotation needs no restart).
// Nothing is fetched until the first login; a provider that cannot be reached is a distinct error
// (ProviderUnreachable), not a refused token.
import type { JWTVerifyGetKey } from 'jose';
import { loadJose } from './jose-lazy.js';

const FETCH_TIMEOUT_MS = 5_000;
/** How long a discovery document is trusted before it is read again. */
const DISCOVERY_MAX_AGE_MS = 3600_000;

export class ProviderUnreachable extends Error {
  constructor(
    readonly issuer: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${issuer}: ${detail}`, options);
    this.name = 'ProviderUnreachable';
  }
}

/** https, or http on a loopback host (a test provider): the same rule as login.oidc.issuer. */
function acceptableUrl(u: URL): boolean {
  return (
    u.protocol === 'https:' ||
    (u.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(u.hostname))
  );
}

export class ProviderKeys {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = 0;
  private pending: Promise<JWTVerifyGetKey> | undefined;

  constructor(readonly issuer: string) {}

  /** The key set to verify against; throws ProviderUnreachable when discovery fails. */
  async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys && Date.now() - this.fetchedAt < DISCOVERY_MAX_AGE_MS) return this.keys;
    this.pending ??= this.discover().finally(() => (this.pending = undefined));
    try {
      return await this.pending;
    } catch (err) {
      // A provider down at the hourly re-read: the keys already known still verify (a token with
      // a new kid makes the key set fetch again, and fail then).
      if (this.keys) return this.keys;
      throw err;
    }
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const url = `${this.issuer}/.well-known/openid-configuration`;
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        headers: { accept: 'application/json' },
        redirect: 'error',
      });
      if (!res.ok) throw new ProviderUnreachable(this.issuer, `discovery answered ${res.status}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      if (err instanceof ProviderUnreachable) throw err;
      throw new ProviderUnreachable(this.issuer, describeFetchError(err), { cause: err });
    }
    if (doc.issuer !== this.issuer)
      throw new ProviderUnreachable(
        this.issuer,
        `its discovery document names issuer ${JSON.stringify(doc.issuer)}; login.oidc.issuer must be exactly that`,
      );
    let jwksUri: URL;
    try {
      jwksUri = new URL(String(doc.jwks_uri));
    } catch {
      throw new ProviderUnreachable(this.issuer, 'its discovery document has no jwks_uri');
    }
    if (!acceptableUrl(jwksUri))
      throw new ProviderUnreachable(this.issuer, `its jwks_uri ${jwksUri.href} is not https`);
    const { createRemoteJWKSet } = await loadJose();
    const remote = createRemoteJWKSet(jwksUri, {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
    });
    this.keys = remote;
    this.fetchedAt = Date.now();
    return remote;
  }
}

/** fetch() hides the reason in `cause` (ECONNREFUSED, a certificate error): bring it out. */
export function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${FETCH_TIMEOUT_MS / 1000} s`;
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return e?.message ?? String(err);
}

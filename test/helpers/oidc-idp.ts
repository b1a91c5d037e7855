// A real OpenID Connect provider for the login tests: panva's oidc-provider (OpenID certified), on
// loopback over HTTPS with a server certificate from the test's PKI, with a small user directory
// whose accounts carry a `groups` claim. Its login and consent pages are the provider's own
// development interactions (any password; the login must be a known user), driven by Chromium.
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface TestUser {
  readonly email: string;
  readonly groups: readonly string[];
}

export interface TestIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Sign a token with the provider's own key (to stage an expired or mis-addressed one). */
  sign(claims: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

export async function startIdp(opts: {
  cert: string;
  key: string;
  users: Record<string, TestUser>;
  clientId?: string;
  clientSecret?: string;
}): Promise<TestIdp> {
  const clientId = opts.clientId ?? 'gatehouse';
  const clientSecret = opts.clientSecret ?? 'a-test-client-secret-of-some-length';
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };

  const server = https.createServer({ cert: opts.cert, key: opts.key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        // A native client: any port on a loopback redirect URI matches (RFC 8252 §7.3).
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // The groups claim in the ID token itself, as Keycloak, Okta and Entra ID can be set to do.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['a-test-cookie-signing-key'] },
    findAccount(_ctx, id) {
      const user = opts.users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email: user.email, email_verified: true, groups: [...user.groups] }),
      };
    },
  });
  server.on('request', provider.callback());

  return {
    issuer,
    clientId,
    clientSecret,
    async sign(claims) {
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid! }).sign(privateKey);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

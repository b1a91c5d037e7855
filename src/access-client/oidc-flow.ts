// Getting an ID token from the endpoint's OpenID provider, with openid-client: the authorization
// code flow with PKCE (S256), `state` and a loopback redirect (RFC 8252: a browser on this machine
// comes back to http://127.0.0.1:PORT/callback), or the device authorization grant (RFC 8628: a
// code to enter on any device's browser, for headless machines and CI). Either way the request
// carries the nonce that binds the token to the key about to be certified.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { GatehouseError } from '../errors.js';
import type { LoginSettings } from './profile.js';

export interface FlowOptions {
  readonly device: boolean;
  /** Try to open the system browser (the URL is printed either way). */
  readonly openBrowser: boolean;
  /** The nonce to ask for (pki loginNonce() of the new key). */
  readonly nonce: string;
  readonly say: (line: string) => void;
  /** How long to wait for the user (default: 5 minutes, or the device code's lifetime). */
  readonly timeoutMs?: number;
}

export interface IdTokenResult {
  readonly idToken: string;
  readonly grant: 'code' | 'device';
}

const DEFAULT_WAIT_MS = 5 * 60_000;

function flowError(settings: LoginSettings, why: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_LOGIN_FLOW', [settings.issuer, why], cause ? { cause } : {});
}

/** An openid-client error in plain words (its code, the provider's error and description). */
function describe(err: unknown): string {
  const e = err as {
    message?: string;
    code?: string;
    error?: string;
    error_description?: string;
    cause?: unknown;
  };
  if (e?.error) return `${e.error}${e.error_description ? `: ${e.error_description}` : ''}`;
  const cause = e?.cause as { code?: string; message?: string } | undefined;
  if (cause?.code) return `${e.message ?? ''} (${cause.code}${cause.message ? `: ${cause.message}` : ''})`;
  return e?.message ?? String(err);
}

async function discover(settings: LoginSettings): Promise<oidc.Configuration> {
  const auth = settings.clientSecret ? oidc.ClientSecretBasic(settings.clientSecret) : oidc.None();
  const insecure = new URL(settings.issuer).protocol === 'http:';
  try {
    return await oidc.discovery(
      new URL(settings.issuer),
      settings.clientId,
      undefined,
      auth,
      insecure ? { execute: [oidc.allowInsecureRequests] } : {},
    );
  } catch (err) {
    throw new GatehouseError('GH_ERR_LOGIN_PROVIDER', [settings.issuer, describe(err)], { cause: err });
  }
}

export async function getIdToken(settings: LoginSettings, opts: FlowOptions): Promise<IdTokenResult> {
  const config = await discover(settings);
  const scope = [...new Set(['openid', ...settings.scopes])].join(' ');
  return opts.device ? deviceGrant(config, settings, scope, opts) : codeFlow(config, settings, scope, opts);
}

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {}); // no opener: the printed URL is the way
    child.unref();
  } catch {
    // as above
  }
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${text}</p>`;

async function codeFlow(
  config: oidc.Configuration,
  settings: LoginSettings,
  scope: string,
  opts: FlowOptions,
): Promise<IdTokenResult> {
  const server = http.createServer();
  server.listen(settings.redirectPort ?? 0, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (err) {
    throw flowError(settings, `cannot listen on 127.0.0.1:${settings.redirectPort} for the redirect`, err);
  }
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce: opts.nonce,
    });
    const callback = new Promise<URL>((resolve) => {
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        const here = new URL(req.url ?? '/', redirectUri);
        if (here.pathname !== '/callback') {
          res.writeHead(404).end();
          return;
        }
        const failed = here.searchParams.get('error');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          failed
            ? PAGE('Login failed', 'The provider refused the login; see the terminal.')
            : PAGE(
                'Logged in',
                'Gatehouse has the login; you can close this tab and return to the terminal.',
              ),
        );
        resolve(here);
      });
    });
    opts.say(`log in with your browser; if it does not open, visit:\n  ${url.href}`);
    if (opts.openBrowser) openBrowser(url.href);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const returned = await Promise.race([
      callback,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(flowError(settings, `no redirect came back within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    let tokens: oidc.TokenEndpointResponse;
    try {
      tokens = await oidc.authorizationCodeGrant(config, returned, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: opts.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw flowError(settings, describe(err), err);
    }
    if (!tokens.id_token)
      throw flowError(settings, 'the provider sent no ID token (is "openid" among the scopes?)');
    return { idToken: tokens.id_token, grant: 'code' };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

async function deviceGrant(
  config: oidc.Configuration,
  settings: LoginSettings,
  scope: string,
  opts: FlowOptions,
): Promise<IdTokenResult> {
  let started: oidc.DeviceAuthorizationResponse;
  try {
    // The nonce goes along; most providers drop it in this grant, and the endpoint allows that.
    started = await oidc.initiateDeviceAuthorization(config, { scope, nonce: opts.nonce });
  } catch (err) {
    throw flowError(settings, `the device authorization request failed: ${describe(err)}`, err);
  }
  const where = started.verification_uri_complete ?? started.verification_uri;
  opts.say(
    `to log in, visit ${where}` +
      (started.verification_uri_complete ? '' : ` and enter the code ${started.user_code}`) +
      `\n  (code ${started.user_code}; it expires in ${Math.round(started.expires_in / 60)} min)`,
  );
  const timeoutMs = Math.min(opts.timeoutMs ?? started.expires_in * 1000, started.expires_in * 1000);
  let tokens: oidc.TokenEndpointResponse;
  try {
    tokens = await oidc.pollDeviceAuthorizationGrant(config, started, undefined, {
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw flowError(settings, describe(err), err);
  }
  if (!tokens.id_token)
    throw flowError(settings, 'the provider sent no ID token (is "openid" among the scopes?)');
  return { idToken: tokens.id_token, grant: 'device' };
}

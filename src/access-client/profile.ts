// The client profile: one file with everything `gatehouse connect` (or curl, or redis-cli, once the
// PEM blocks are saved) needs to use an access endpoint: its address, the CA, the client's
// certificate and key, and the targets the client's groups may reach. Written 0600: it holds a key.
// On an endpoint with login, a profile starts without certificate and key but with the provider's
// settings (`login`); `gatehouse login` fills them in, and again when the certificate expires.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { GatehouseError } from '../errors.js';
import { parseHostPort } from '../net/address.js';

export const PROFILE_KIND = 'gatehouse-client-profile';

/** What `gatehouse login` needs to ask the endpoint's OpenID provider for an ID token. */
export interface LoginSettings {
  readonly issuer: string;
  readonly clientId: string;
  /** Only for providers that insist on one for this client: not a secret from the profile's holder. */
  readonly clientSecret?: string;
  readonly scopes: readonly string[];
  readonly redirectPort?: number;
}

export interface ClientProfile {
  readonly kind: typeof PROFILE_KIND;
  readonly version: 1;
  readonly endpoint: string;
  /** host:port of the endpoint's tunnel listener. */
  readonly address: string;
  /** Name to verify the server certificate against (and send as SNI), when not the address host. */
  readonly serverName?: string;
  readonly commonName: string;
  readonly groups: readonly string[];
  /** Targets the client's groups may reach (CIDR, optional ports), for people to read. */
  readonly targets: readonly string[];
  /** Direct TLS listeners of the endpoint: host:port → target. */
  readonly directListeners: readonly { readonly address: string; readonly target: string }[];
  readonly ca: string;
  /** Absent in a login profile until `gatehouse login` has run. */
  readonly cert?: string;
  readonly key?: string;
  readonly login?: LoginSettings;
}

export function formatProfile(p: ClientProfile): string {
  const who = p.commonName ? `for ${p.commonName} ` : '';
  return (
    `# Gatehouse client profile ${who}on access endpoint ${p.endpoint}.\n` +
    (p.login ? `# Log in (again) with: gatehouse login FILE\n` : '') +
    `# Holds a private key: keep it 0600. Use: gatehouse connect FILE --forward LOCALPORT:HOST:PORT\n` +
    stringify(p, { lineWidth: 0, blockQuote: 'literal' })
  );
}

/** Write a profile as FILE with mode 0600 (through a temporary file, so no reader sees half). */
export function writeProfile(file: string, p: ClientProfile): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, formatProfile(p), { mode: 0o600, flag: 'wx' });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [file, 'cannot be written'], { cause: err });
  }
}

function bad(file: string, why: string): GatehouseError {
  return new GatehouseError('GH_ERR_ACCESS_PROFILE', [file, why]);
}

export function parseProfile(text: string, file: string): ClientProfile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [file, 'is not YAML'], { cause: err });
  }
  const o = raw as Partial<Record<keyof ClientProfile, unknown>> | null;
  if (!o || typeof o !== 'object' || o.kind !== PROFILE_KIND) throw bad(file, `is not a ${PROFILE_KIND}`);
  if (o.version !== 1) throw bad(file, `has version ${String(o.version)}; this gatehouse reads version 1`);
  const login = parseLogin(o.login, file);
  // A login profile gets its certificate and key from `gatehouse login`.
  const required = login
    ? (['endpoint', 'address', 'ca'] as const)
    : (['endpoint', 'address', 'commonName', 'ca', 'cert', 'key'] as const);
  for (const k of required) {
    if (typeof o[k] !== 'string' || o[k] === '') throw bad(file, `has no ${k}`);
  }
  if ((typeof o.cert === 'string') !== (typeof o.key === 'string'))
    throw bad(file, 'has a certificate without its key, or a key without its certificate');
  if (typeof parseHostPort(o.address as string) === 'string')
    throw bad(file, `address "${String(o.address)}" is not HOST:PORT`);
  return {
    kind: PROFILE_KIND,
    version: 1,
    endpoint: o.endpoint as string,
    address: o.address as string,
    ...(typeof o.serverName === 'string' ? { serverName: o.serverName } : {}),
    commonName: typeof o.commonName === 'string' ? o.commonName : '',
    groups: Array.isArray(o.groups) ? o.groups.map(String) : [],
    targets: Array.isArray(o.targets) ? o.targets.map(String) : [],
    directListeners: Array.isArray(o.directListeners)
      ? (o.directListeners as { address: unknown; target: unknown }[]).map((d) => ({
          address: String(d.address),
          target: String(d.target),
        }))
      : [],
    ca: o.ca as string,
    ...(typeof o.cert === 'string' ? { cert: o.cert } : {}),
    ...(typeof o.key === 'string' ? { key: o.key } : {}),
    ...(login ? { login } : {}),
  };
}

function parseLogin(raw: unknown, file: string): LoginSettings | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = raw as Partial<Record<keyof LoginSettings, unknown>>;
  if (typeof o !== 'object' || typeof o.issuer !== 'string' || typeof o.clientId !== 'string')
    throw bad(file, 'has a login section without issuer and clientId');
  return {
    issuer: o.issuer,
    clientId: o.clientId,
    ...(typeof o.clientSecret === 'string' ? { clientSecret: o.clientSecret } : {}),
    scopes: Array.isArray(o.scopes) ? o.scopes.map(String) : ['openid'],
    ...(typeof o.redirectPort === 'number' ? { redirectPort: o.redirectPort } : {}),
  };
}

export function readProfile(file: string): ClientProfile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [file, 'cannot be read'], { cause: err });
  }
  return parseProfile(text, file);
}

/** Local checks before dialing: a missing, expired or not-yet-valid certificate is said plainly. */
export function certificateProblem(p: ClientProfile, now = new Date(), file = 'PROFILE'): string | undefined {
  const again = p.login ? `; run \`gatehouse login ${file}\`` : '';
  if (!p.cert) return `the profile has no certificate yet${again}`;
  const cert = new X509Certificate(p.cert);
  if (new Date(cert.validTo) < now)
    return `the client certificate of ${p.commonName} expired on ${cert.validTo}${again}`;
  if (new Date(cert.validFrom) > now)
    return `the client certificate of ${p.commonName} is not valid before ${cert.validFrom}`;
  return undefined;
}

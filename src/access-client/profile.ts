// The client profile: one file with everything `gatehouse connect` (or curl, or redis-cli, once the
// PEM blocks are saved) needs to use an access endpoint: its address, the CA, the client's
// certificate and key, and the targets the client's groups may reach. Written 0600: it holds a key.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { GatehouseError } from '../errors.js';
import { parseHostPort } from '../net/address.js';

export const PROFILE_KIND = 'gatehouse-client-profile';

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
  readonly cert: string;
  readonly key: string;
}

export function formatProfile(p: ClientProfile): string {
  return (
    `# Gatehouse client profile for ${p.commonName} on access endpoint ${p.endpoint}.\n` +
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
  for (const k of ['endpoint', 'address', 'commonName', 'ca', 'cert', 'key'] as const) {
    if (typeof o[k] !== 'string' || o[k] === '') throw bad(file, `has no ${k}`);
  }
  if (typeof parseHostPort(o.address as string) === 'string')
    throw bad(file, `address "${String(o.address)}" is not HOST:PORT`);
  return {
    kind: PROFILE_KIND,
    version: 1,
    endpoint: o.endpoint as string,
    address: o.address as string,
    ...(typeof o.serverName === 'string' ? { serverName: o.serverName } : {}),
    commonName: o.commonName as string,
    groups: Array.isArray(o.groups) ? o.groups.map(String) : [],
    targets: Array.isArray(o.targets) ? o.targets.map(String) : [],
    directListeners: Array.isArray(o.directListeners)
      ? (o.directListeners as { address: unknown; target: unknown }[]).map((d) => ({
          address: String(d.address),
          target: String(d.target),
        }))
      : [],
    ca: o.ca as string,
    cert: o.cert as string,
    key: o.key as string,
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

/** Local checks before dialing: an expired or not-yet-valid certificate is said plainly. */
export function certificateProblem(p: ClientProfile, now = new Date()): string | undefined {
  const cert = new X509Certificate(p.cert);
  if (new Date(cert.validTo) < now)
    return `the client certificate of ${p.commonName} expired on ${cert.validTo}`;
  if (new Date(cert.validFrom) > now)
    return `the client certificate of ${p.commonName} is not valid before ${cert.validFrom}`;
  return undefined;
}

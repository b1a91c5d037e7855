// Build a client profile from the daemon's config and PKI: what `gatehouse client-config` writes.
// With a client name: that client's certificate and key. Without: a login profile (the endpoint's
// address, CA and OpenID provider settings), which `gatehouse login` completes.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { AccessEndpointConfig } from '../config/schema.js';
import { GatehouseError } from '../errors.js';
import { formatHostPort, parseHostPort } from '../net/address.js';
import {
  groupsFromCertificate,
  listCertificates,
  loadCaCertificatePem,
  loadCredentials,
} from '../pki/index.js';
import { compileAuthorization, targetsForGroups } from '../policy/authorization.js';
import { PROFILE_KIND, type ClientProfile, type LoginSettings } from './profile.js';

const WILDCARD = new Set(['0.0.0.0', '::', '']);

function sans(cert: X509Certificate): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dns.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ip.push(part.slice(11));
  }
  return { dns, ip };
}

export interface MakeProfileOptions {
  readonly endpoint: string;
  /** Absent: a login profile, for an endpoint with `login`. */
  readonly client?: string;
  /** host:port clients dial, when the listen address is a wildcard or not what clients see. */
  readonly address?: string;
  readonly passphrase?: string;
}

export function makeProfile(loaded: LoadedConfig, opts: MakeProfileOptions): ClientProfile {
  const { config, source, baseDir } = loaded;
  const ep = config.accessEndpoints[opts.endpoint];
  if (!ep) {
    const known = Object.keys(config.accessEndpoints);
    throw new GatehouseError('GH_ERR_USAGE', [
      `no access endpoint "${opts.endpoint}" in ${source.file}${known.length ? ` (defined: ${known.join(', ')})` : ''}`,
    ]);
  }
  const pkiDir = path.resolve(baseDir, config.pki);
  let client: { cert: string; key: string } | undefined;
  let login: LoginSettings | undefined;
  if (opts.client !== undefined) client = clientCredentials(pkiDir, opts.client, opts.passphrase);
  else if (ep.login) login = loginSettings(ep.login.oidc, baseDir);
  else
    throw new GatehouseError(
      'GH_ERR_USAGE',
      [`access endpoint ${opts.endpoint} has no login: give --client NAME`],
      {
        hint: `name a client certificate of the PKI with --client, or configure accessEndpoints.${opts.endpoint}.login`,
      },
    );
  const server = new X509Certificate(loadCredentials(pkiDir, ep.serverCertificate).cert);
  const { dns, ip } = sans(server);
  let address = opts.address;
  if (!address) {
    const host = WILDCARD.has(ep.listen.host) ? (ip[0] ?? dns[0]) : ep.listen.host;
    if (!host) {
      throw new GatehouseError(
        'GH_ERR_USAGE',
        [`endpoint ${opts.endpoint} listens on every address and its server certificate names none`],
        { hint: 'give the address clients dial with --address HOST:PORT' },
      );
    }
    address = formatHostPort(host, ep.listen.port);
  }
  const parsed = parseHostPort(address);
  if (typeof parsed === 'string') throw new GatehouseError('GH_ERR_USAGE', [`--address: ${parsed}`]);
  const serverName = dns.includes(parsed.host) || ip.includes(parsed.host) ? undefined : dns[0];
  const clientCert = client ? new X509Certificate(client.cert) : undefined;
  const groups = clientCert ? groupsFromCertificate(clientCert) : [];
  const authz = compileAuthorization(opts.endpoint, ep, source);
  const commonName = clientCert
    ? (/(?:^|\n)CN=([^\n]*)/.exec(clientCert.subject)?.[1] ?? opts.client ?? '')
    : '';
  return {
    kind: PROFILE_KIND,
    version: 1,
    endpoint: opts.endpoint,
    address,
    ...(serverName ? { serverName } : {}),
    commonName,
    groups,
    targets: targetsForGroups(authz, groups),
    directListeners: ep.directListeners.map((d) => ({
      address:
        formatHostPort(WILDCARD.has(d.listen.host) ? parsed.host : d.listen.host, d.listen.port) +
        (d.listen.lastPort > d.listen.port ? `-${d.listen.lastPort}` : ''),
      target:
        d.target.kind === 'cluster'
          ? `cluster:${d.target.cluster}`
          : formatHostPort(d.target.address.host, d.target.address.port),
    })),
    ca: loadCaCertificatePem(pkiDir),
    ...(client ? { cert: client.cert, key: client.key } : {}),
    ...(login ? { login } : {}),
  };
}

function clientCredentials(pkiDir: string, name: string, passphrase: string | undefined) {
  const records = listCertificates(pkiDir).records.filter((r) => r.name === name);
  const record = records.find((r) => r.status === 'valid') ?? records[0];
  if (record && record.status !== 'valid') {
    throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [
      name,
      `the certificate is ${record.status}; issue a new one with \`gatehouse pki build-client-full\``,
    ]);
  }
  return loadCredentials(pkiDir, name, passphrase);
}

type OidcConfig = NonNullable<AccessEndpointConfig['login']>['oidc'];

/** What a login profile carries of login.oidc; the client secret, when there is one, read from its file. */
function loginSettings(oidc: OidcConfig, baseDir: string): LoginSettings {
  let clientSecret: string | undefined;
  if (oidc.clientSecretFile) {
    const file = path.resolve(baseDir, oidc.clientSecretFile);
    try {
      clientSecret = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new GatehouseError('GH_ERR_ACCESS_PROFILE', [file, 'the client secret file cannot be read'], {
        cause: err,
      });
    }
  }
  return {
    issuer: oidc.issuer,
    clientId: oidc.clientId,
    ...(clientSecret ? { clientSecret } : {}),
    scopes: oidc.scopes,
    ...(oidc.redirectPort ? { redirectPort: oidc.redirectPort } : {}),
  };
}

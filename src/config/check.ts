// Checks that need the whole config (or the disk): references between sections, listener
// collisions, forward ranges that do not line up, files a section names.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './schema.js';
import type { ConfigPath } from './source.js';
import { bindsCollide, formatHostPort } from '../net/address.js';
import { listConfiguredListeners, type ListenerEntry } from './listeners.js';
import { rangeSize } from '../net/ports.js';

export interface Problem {
  readonly path: ConfigPath;
  readonly key?: string;
  readonly message: string;
  /** A reference to a security group or cluster that is not defined. */
  readonly ref?: { readonly kind: 'securityGroups' | 'clusters'; readonly name: string };
}

function checkCollisions(config: Config, problems: Problem[]): void {
  // Bucket by port first: a forward range of thousands of ports stays linear.
  const byPort = new Map<number, ListenerEntry[]>();
  for (const b of listConfiguredListeners(config)) {
    const bucket = byPort.get(b.bind.port) ?? [];
    for (const other of bucket) {
      if (bindsCollide(b.bind, other.bind)) {
        problems.push({
          path: b.path,
          message: `${formatHostPort(b.bind.host, b.bind.port)} is already a listener of ${other.what}; two listeners cannot share an address and port`,
        });
        break;
      }
    }
    bucket.push(b);
    byPort.set(b.bind.port, bucket);
  }
}

function checkGroupRefs(config: Config, problems: Problem[]): void {
  const groups = new Set(Object.keys(config.securityGroups));
  const missing = (name: string) =>
    `security group "${name}" is not defined; add it under securityGroups or fix the name` +
    (groups.size ? ` (defined: ${[...groups].join(', ')})` : '');
  for (const [gname, g] of Object.entries(config.securityGroups)) {
    g.ingress?.forEach((r, i) => {
      if (r.source.kind === 'group' && !groups.has(r.source.group))
        problems.push({
          path: ['securityGroups', gname, 'ingress', i, 'source'],
          message: missing(r.source.group),
          ref: { kind: 'securityGroups', name: r.source.group },
        });
    });
    g.egress?.forEach((r, i) => {
      if (r.destination.kind === 'group' && !groups.has(r.destination.group))
        problems.push({
          path: ['securityGroups', gname, 'egress', i, 'destination'],
          message: missing(r.destination.group),
          ref: { kind: 'securityGroups', name: r.destination.group },
        });
    });
  }
  const sections = ['accessEndpoints', 'portForwards', 'egressProxies'] as const;
  for (const section of sections) {
    for (const [name, face] of Object.entries(config[section])) {
      face.securityGroups.forEach((g: string, i: number) => {
        if (!groups.has(g))
          problems.push({
            path: [section, name, 'securityGroups', i],
            message: missing(g),
            ref: { kind: 'securityGroups', name: g },
          });
      });
    }
  }
}

function checkClusterRefs(config: Config, problems: Problem[]): void {
  const clusters = new Set(Object.keys(config.clusters));
  const missing = (name: string) =>
    `cluster "${name}" is not defined; add it under clusters or fix the name` +
    (clusters.size ? ` (defined: ${[...clusters].join(', ')})` : '');
  for (const [name, pf] of Object.entries(config.portForwards)) {
    pf.forwards.forEach((f, i) => {
      const at = ['portForwards', name, 'forwards', i];
      if ((f.target === undefined) === (f.cluster === undefined)) {
        problems.push({
          path: at,
          message: 'a forward needs exactly one of `target: HOST:PORT` or `cluster: NAME`',
        });
        return;
      }
      if (f.cluster !== undefined && !clusters.has(f.cluster)) {
        problems.push({
          path: [...at, 'cluster'],
          message: missing(f.cluster),
          ref: { kind: 'clusters', name: f.cluster },
        });
      }
      if (f.target && rangeSize(f.target.ports) !== 1 && rangeSize(f.target.ports) !== rangeSize(f.listen)) {
        problems.push({
          path: [...at, 'target'],
          message: `target range has ${rangeSize(f.target.ports)} ports but listen has ${rangeSize(f.listen)}; make them the same size, or give one target port`,
        });
      }
    });
  }
  for (const [name, ep] of Object.entries(config.accessEndpoints)) {
    ep.directListeners.forEach((d, i) => {
      if (d.listen.lastPort > d.listen.port && d.target.kind !== 'cluster')
        problems.push({
          path: ['accessEndpoints', name, 'directListeners', i, 'listen'],
          message: 'a port range gives one port per cluster node; it needs `target: cluster:NAME`',
        });
      if (d.target.kind === 'cluster' && !clusters.has(d.target.cluster))
        problems.push({
          path: ['accessEndpoints', name, 'directListeners', i, 'target'],
          message: missing(d.target.cluster),
          ref: { kind: 'clusters', name: d.target.cluster },
        });
      if (
        d.redisUsers &&
        d.target.kind === 'cluster' &&
        config.clusters[d.target.cluster]?.engine === 'memcached'
      )
        problems.push({
          path: ['accessEndpoints', name, 'directListeners', i, 'redisUsers'],
          message: `redisUsers log in to Redis or Valkey nodes; cluster "${d.target.cluster}" is memcached`,
        });
    });
  }
}

/**
 * A path as a command typed in this directory finds it: `pki: ./pki` of a config in `sub/` is
 * `sub/pki` from here. Absolute when it lies above the working directory.
 */
export function fromCwd(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, file);
  if (rel === '') return '.';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return file;
  return rel.includes(path.sep) ? rel : `./${rel}`;
}

function checkFiles(config: Config, baseDir: string, problems: Problem[]): void {
  const pkiDir = path.resolve(baseDir, config.pki);
  // Without any certificate the server-certificate problem below already says to build the PKI.
  const endpoints = Object.keys(config.accessEndpoints);
  const anyServerCert = Object.values(config.accessEndpoints).some((ep) =>
    fs.existsSync(path.join(pkiDir, 'issued', `${ep.serverCertificate}.crt`)),
  );
  if (anyServerCert && !fs.existsSync(path.join(pkiDir, 'ca.crt'))) {
    problems.push({
      path: ['pki'],
      message: `access endpoints (${endpoints.join(', ')}) verify clients against ${path.join(pkiDir, 'ca.crt')}, which does not exist; run \`gatehouse pki --pki ${fromCwd(pkiDir)} build-ca\` or fix \`pki:\``,
    });
  }
  for (const [name, ep] of Object.entries(config.accessEndpoints)) {
    const crt = path.join(pkiDir, 'issued', `${ep.serverCertificate}.crt`);
    if (!fs.existsSync(crt)) {
      problems.push({
        path: ['accessEndpoints', name, 'serverCertificate'],
        message: `certificate "${ep.serverCertificate}" is not in the PKI (no ${crt}); run \`gatehouse pki --pki ${fromCwd(pkiDir)} build-server-full ${ep.serverCertificate}\``,
      });
    }
    const secret = ep.login?.oidc.clientSecretFile;
    if (secret !== undefined && !fs.existsSync(path.resolve(baseDir, secret)))
      problems.push({
        path: ['accessEndpoints', name, 'login', 'oidc', 'clientSecretFile'],
        message: `file ${path.resolve(baseDir, secret)} does not exist`,
      });
  }
  for (const [name, c] of Object.entries(config.clusters)) {
    if (!c.discoveryAuth) continue;
    const full = path.resolve(baseDir, c.discoveryAuth.passwordFile);
    if (!fs.existsSync(full))
      problems.push({
        path: ['clusters', name, 'discoveryAuth', 'passwordFile'],
        message: `password file ${full} does not exist; write the discovery user's password into it`,
      });
    if (c.engine === 'memcached')
      problems.push({
        path: ['clusters', name, 'discoveryAuth'],
        message: 'discoveryAuth logs in to Redis or Valkey nodes; a memcached node list is not discovered',
      });
  }
  for (const [name, ep] of Object.entries(config.accessEndpoints))
    ep.directListeners.forEach((d, i) =>
      d.redisUsers?.forEach((u, j) => {
        const full = path.resolve(baseDir, u.passwordFile);
        if (!fs.existsSync(full))
          problems.push({
            path: ['accessEndpoints', name, 'directListeners', i, 'redisUsers', j, 'passwordFile'],
            message: `password file ${full} does not exist; write the Redis user's password into it`,
          });
      }),
    );
  for (const [name, ep] of Object.entries(config.egressProxies)) {
    const files: [string, ConfigPath][] = [];
    if (ep.allowlist) files.push([ep.allowlist, ['egressProxies', name, 'allowlist']]);
    if (ep.auth) files.push([ep.auth.htpasswd, ['egressProxies', name, 'auth', 'htpasswd']]);
    for (const [f, at] of files) {
      const full = path.resolve(baseDir, f);
      if (!fs.existsSync(full)) problems.push({ path: at, message: `file ${full} does not exist` });
    }
  }
  if (config.admin.tokenFile && !fs.existsSync(path.resolve(baseDir, config.admin.tokenFile))) {
    problems.push({
      path: ['admin', 'tokenFile'],
      message: `token file ${config.admin.tokenFile} does not exist`,
    });
  }
}

function checkEgressProxies(config: Config, baseDir: string, problems: Problem[]): void {
  for (const [name, ep] of Object.entries(config.egressProxies)) {
    const at = ['egressProxies', name];
    if (!ep.allowlist && ep.policies.length === 0)
      problems.push({
        path: [...at, 'listen'],
        message:
          'an egress proxy needs `allowlist: FILE` or `policies: [...]`; without one it denies everything',
      });
    const seen = new Set<string>();
    ep.policies.forEach((p, i) => {
      if (seen.has(p.name))
        problems.push({
          path: [...at, 'policies', i, 'name'],
          message: `policy name "${p.name}" is used twice`,
        });
      seen.add(p.name);
      if (p.users && !ep.auth)
        problems.push({
          path: [...at, 'policies', i, 'users'],
          message:
            'a policy by `users` needs `auth: { htpasswd: FILE }` on the proxy; add it or match by `sources`',
        });
      const full = path.resolve(baseDir, p.allowlist);
      if (!fs.existsSync(full))
        problems.push({ path: [...at, 'policies', i, 'allowlist'], message: `file ${full} does not exist` });
    });
    if (ep.accessLog && !fs.existsSync(path.dirname(path.resolve(baseDir, ep.accessLog.path))))
      problems.push({
        path: [...at, 'accessLog'],
        message: `the directory of access log ${ep.accessLog.path} does not exist; create it`,
      });
  }
}

/** proxyProtocol needs the peers it is honoured from, and trustedProxies means nothing without it. */
function checkProxyProtocol(config: Config, problems: Problem[]): void {
  const sections = [
    ['portForwards', config.portForwards],
    ['accessEndpoints', config.accessEndpoints],
    ['egressProxies', config.egressProxies],
  ] as const;
  for (const [section, entries] of sections)
    for (const [name, c] of Object.entries(entries)) {
      const at = [section, name];
      if (c.proxyProtocol && c.trustedProxies.length === 0)
        problems.push({
          path: at,
          key: 'proxyProtocol',
          message:
            'proxyProtocol needs trustedProxies: [CIDR, …], the load balancers a PROXY header is honoured from (from anyone else the connection is closed unread)',
        });
      if (section === 'portForwards' && c.proxyProtocol && 'dataPath' in c && c.dataPath === 'kernel')
        problems.push({
          path: at,
          key: 'proxyProtocol',
          message:
            'proxyProtocol needs dataPath: userspace (the kernel data path forwards bytes as they come and cannot read or strip a PROXY header)',
        });
      if (!c.proxyProtocol && c.trustedProxies.length > 0)
        problems.push({
          path: at,
          key: 'trustedProxies',
          message: 'trustedProxies is read only with proxyProtocol: v2; add it, or remove trustedProxies',
        });
    }
}

export function checkConfig(config: Config, baseDir: string): Problem[] {
  const problems: Problem[] = [];
  checkProxyProtocol(config, problems);
  checkGroupRefs(config, problems);
  checkClusterRefs(config, problems);
  checkCollisions(config, problems);
  checkFiles(config, baseDir, problems);
  checkEgressProxies(config, baseDir, problems);
  return problems;
}

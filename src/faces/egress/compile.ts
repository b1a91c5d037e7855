// An egress proxy's config turned into what the hot path uses: resolved file paths, compiled rules
// with the FILE:LINE of each config rule, the guard. Pure apart from path.resolve.
import { limitOf } from '../limits.js';
import type { Limit } from '../../policy/connection-limits.js';
import path from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import type { EgressProxyConfig } from '../../config/schema.js';
import { formatHostPort, type HostPort } from '../../net/address.js';
import type { Cidr } from '../../net/cidr.js';
import type { GuardConfig } from '../../policy/destination-guard.js';
import type { EgressRules } from '../../policy/egress-decision.js';

export interface ProxySettings {
  readonly name: string;
  readonly bind: HostPort;
  /** "central@0.0.0.0:3128" */
  readonly listener: string;
  readonly groups: readonly string[];
  readonly rules: EgressRules;
  readonly guard: GuardConfig;
  readonly auth?: { readonly htpasswd: string; readonly realm: string };
  readonly accessLog?: { readonly path: string; readonly format: 'squid' | 'json' };
  readonly allowlistFiles: readonly string[];
  readonly metrics: boolean;
  readonly maxHeaderSize: number;
  readonly headersTimeout: number;
  readonly idleTimeout: number;
  readonly connectTimeout: number;
  /** PROXY v2 headers honoured from these load balancers (proxyProtocol: v2). */
  readonly trustedProxies?: readonly Cidr[];
  /** Requests and tunnels at once, in all and per principal (whole values; each worker takes its share). */
  readonly concurrency: { readonly total: Limit | undefined; readonly perPrincipal: Limit | undefined };
}

export function compileProxy(name: string, cfg: EgressProxyConfig, loaded: LoadedConfig): ProxySettings {
  const at = ['egressProxies', name];
  const where = (...p: (string | number)[]) => loaded.source.where([...at, ...p]);
  const abs = (f: string) => path.resolve(loaded.baseDir, f);
  const policies = cfg.policies.map((p, i) => ({
    name: p.name,
    ...(p.users ? { users: new Set(p.users) } : {}),
    ...(p.sources ? { sources: p.sources } : {}),
    allowlist: abs(p.allowlist),
    where: where('policies', i),
  }));
  const defaultAllowlist = cfg.allowlist ? abs(cfg.allowlist) : undefined;
  const allowlistFiles = [
    ...new Set([...(defaultAllowlist ? [defaultAllowlist] : []), ...policies.map((p) => p.allowlist)]),
  ];
  return {
    name,
    bind: cfg.listen,
    listener: `${name}@${formatHostPort(cfg.listen.host, cfg.listen.port)}`,
    groups: cfg.securityGroups,
    rules: {
      policies,
      ...(defaultAllowlist ? { defaultAllowlist } : {}),
      httpPorts: cfg.httpPorts,
      connectPorts: cfg.connectPorts,
      httpPortsWhere: where('httpPorts'),
      connectPortsWhere: where('connectPorts'),
      reportOnly: cfg.reportOnly,
    },
    guard: {
      enabled: cfg.denyPrivateDestinations,
      allow: cfg.unsafeAllowPrivateDestinations.map((cidr, i) => ({
        cidr,
        where: where('unsafeAllowPrivateDestinations', i),
      })),
    },
    ...(cfg.auth ? { auth: { htpasswd: abs(cfg.auth.htpasswd), realm: cfg.auth.realm } } : {}),
    ...(cfg.accessLog ? { accessLog: { path: abs(cfg.accessLog.path), format: cfg.accessLog.format } } : {}),
    allowlistFiles,
    metrics: cfg.metrics,
    maxHeaderSize: cfg.maxHeaderSize,
    headersTimeout: cfg.headersTimeout,
    idleTimeout: cfg.idleTimeout,
    ...(cfg.proxyProtocol ? { trustedProxies: cfg.trustedProxies } : {}),
    connectTimeout: cfg.connectTimeout,
    concurrency: {
      total: limitOf(loaded, at, 'maxConcurrent', cfg.limits.maxConcurrent, 1),
      perPrincipal: limitOf(loaded, at, 'maxConcurrentPerPrincipal', cfg.limits.maxConcurrentPerPrincipal, 1),
    },
  };
}

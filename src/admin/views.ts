// What the admin API shows of the running config: a summary (faces, listeners) and the policy
// (security groups, authorization rules) as plain JSON, each rule with its FILE:LINE. Pure.
import type { LoadedConfig } from '../config/load.js';
import { formatHostPort } from '../net/address.js';
import { listConfiguredListeners } from '../config/listeners.js';

/** Config values as JSON: CIDRs and port sets as their text, addresses as host:port, sg refs as sg:NAME. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plain);
  const o = value as Record<string, unknown>;
  if (typeof o.text === 'string') return o.text;
  if (typeof o.host === 'string' && typeof o.port === 'number' && Object.keys(o).length === 2)
    return formatHostPort(o.host, o.port);
  if (o.kind === 'group' && typeof o.group === 'string') return `sg:${o.group}`;
  if (o.kind === 'cidr') return plain(o.cidr);
  if (o.kind === 'address') return plain(o.address);
  if (o.kind === 'cluster' && typeof o.cluster === 'string') return `cluster:${o.cluster}`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = plain(v);
  return out;
}

export function configSummary(loaded: LoadedConfig | undefined): unknown {
  if (!loaded) return undefined;
  const c = loaded.config;
  return {
    file: loaded.source.file,
    pki: c.pki,
    faces: {
      accessEndpoints: Object.keys(c.accessEndpoints),
      portForwards: Object.keys(c.portForwards),
      egressProxies: Object.keys(c.egressProxies),
    },
    securityGroups: Object.keys(c.securityGroups),
    clusters: Object.fromEntries(Object.entries(c.clusters).map(([n, cl]) => [n, cl.engine])),
    listeners: listConfiguredListeners(c).map((l) => ({
      face: l.face,
      what: l.what,
      bind: formatHostPort(l.bind.host, l.bind.port),
      groups: l.groups,
      where: loaded.source.where(l.path),
    })),
    audit: { store: c.audit.store, log: c.audit.log, retention: c.audit.retention },
  };
}

export function policyView(loaded: LoadedConfig | undefined): unknown {
  if (!loaded) return { securityGroups: [], authorizationRules: [] };
  const c = loaded.config;
  const where = (...p: (string | number)[]) => loaded.source.where(p);
  return {
    securityGroups: Object.entries(c.securityGroups).map(([name, g]) => ({
      name,
      description: g.description,
      where: where('securityGroups', name),
      members: plain(g.members ?? []),
      ingress: (g.ingress ?? []).map((r, i) => ({
        ...(plain(r) as object),
        where: where('securityGroups', name, 'ingress', i),
      })),
      egress:
        g.egress === undefined
          ? null
          : g.egress.map((r, i) => ({
              ...(plain(r) as object),
              where: where('securityGroups', name, 'egress', i),
            })),
    })),
    authorizationRules: Object.entries(c.accessEndpoints).flatMap(([endpoint, ep]) =>
      ep.authorizationRules.map((r, i) => ({
        endpoint,
        ...(plain(r) as object),
        where: where('accessEndpoints', endpoint, 'authorizationRules', i),
      })),
    ),
  };
}

// What the admin API shows of the running config: a summary (faces, listeners) and the policy
// (security groups, authorization rules) as plain JSON, each rule with its FILE:LINE. Pure.
import type { LoadedConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net/address.js';
import type { IpAddress } from '../net/cidr.js';
import { listConfiguredListeners } from '../config/listeners.js';
import { describeDecision } from '../policy/decision.js';
import { explain } from '../policy/explain.js';
import { compileSecurityPolicy } from '../policy/security-groups.js';

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

/**
 * The address a client connects to, as `explain` takes it: HOST:PORT, or a bare port meaning any
 * address (0.0.0.0, which matches every listener on that port). An error message when it is neither.
 */
export function parseExplainTo(text: string): HostPort | string {
  return parseHostPort(/^\d+$/.test(text.trim()) ? `0.0.0.0:${text.trim()}` : text);
}

/**
 * `explain` as JSON, what the API answers and `gatehouse explain --json` prints: every listener the
 * connection may meet, and each decision with its rule and FILE:LINE. No listener there is an
 * error (GH_ERR_NO_LISTENER, 404) that names the listeners there are, not an empty list.
 */
export function explainView(loaded: LoadedConfig, from: IpAddress, to: HostPort) {
  const policy = compileSecurityPolicy(loaded.config, loaded.source);
  const found = explain(loaded.config, loaded.source, policy, from, to);
  if (found.length === 0) {
    const listeners = listConfiguredListeners(loaded.config).map(
      (l) => `${formatHostPort(l.bind.host, l.bind.port)} (${l.what})`,
    );
    throw new GatehouseError('GH_ERR_NO_LISTENER', [formatHostPort(to.host, to.port)], {
      details: [
        listeners.length
          ? `listeners in ${loaded.source.file}: ${listeners.slice(0, 20).join(', ')}${listeners.length > 20 ? ', …' : ''}`
          : `${loaded.source.file} has no listeners`,
      ],
    });
  }
  const results = found.map((r) => ({
    listener: {
      face: r.listener.face,
      what: r.listener.what,
      bind: formatHostPort(r.listener.bind.host, r.listener.bind.port),
      where: loaded.source.where(r.listener.path),
      ...(r.listener.trustedProxies ? { trustedProxies: r.listener.trustedProxies.map((c) => c.text) } : {}),
    },
    allowed: r.allowed,
    ...(r.target ? { target: r.target } : {}),
    steps: r.steps.map((s) => ({
      step: s.step,
      subject: s.subject,
      text: describeDecision(s.decision),
      decision: s.decision,
    })),
  }));
  return {
    from: from.toString(),
    to: formatHostPort(to.host, to.port),
    allowed: results.every((r) => r.allowed),
    results,
  };
}

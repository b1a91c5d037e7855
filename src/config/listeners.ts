// Every listener the config asks for, of every face, in one list: used to find collisions at load
// and to answer `explain` for an address and port.
import type { Config } from './schema.js';
import type { ConfigPath } from './source.js';
import type { HostPort } from '../net/address.js';
import type { Cidr } from '../net/cidr.js';

export interface ListenerEntry {
  readonly face: 'accessEndpoint' | 'directListener' | 'portForward' | 'egressProxy' | 'admin';
  /** "portForwards.nat.forwards[0]" */
  readonly what: string;
  readonly bind: HostPort;
  readonly groups: readonly string[];
  readonly path: ConfigPath;
  /** With proxyProtocol: v2, the load balancers the client's address comes from. */
  readonly trustedProxies?: readonly Cidr[];
}

export function listConfiguredListeners(config: Config): ListenerEntry[] {
  const out: ListenerEntry[] = [];
  // Admin first: when a face collides with it, the problem is reported at the face's line, which
  // is in the file even when admin is left to its default.
  if (config.admin.enabled) {
    out.push({
      face: 'admin',
      what: 'admin',
      bind: config.admin.listen,
      groups: [],
      path: ['admin', 'listen'],
    });
  }
  for (const [name, ep] of Object.entries(config.accessEndpoints)) {
    const groups = ep.securityGroups;
    const proxied = ep.proxyProtocol ? { trustedProxies: ep.trustedProxies } : {};
    out.push({
      face: 'accessEndpoint',
      what: `accessEndpoints.${name}`,
      bind: ep.listen,
      groups,
      path: ['accessEndpoints', name, 'listen'],
      ...proxied,
    });
    ep.directListeners.forEach((d, i) => {
      for (let port = d.listen.port; port <= d.listen.lastPort; port++) {
        out.push({
          face: 'directListener',
          what: `accessEndpoints.${name}.directListeners[${i}]`,
          bind: { host: d.listen.host, port },
          groups,
          path: ['accessEndpoints', name, 'directListeners', i, 'listen'],
          ...proxied,
        });
      }
    });
  }
  for (const [name, pf] of Object.entries(config.portForwards)) {
    pf.forwards.forEach((f, i) => {
      for (let port = f.listen[0]; port <= f.listen[1]; port++) {
        out.push({
          face: 'portForward',
          what: `portForwards.${name}.forwards[${i}]`,
          bind: { host: pf.address, port },
          groups: pf.securityGroups,
          path: ['portForwards', name, 'forwards', i, 'listen'],
          ...(pf.proxyProtocol ? { trustedProxies: pf.trustedProxies } : {}),
        });
      }
    });
  }
  for (const [name, ep] of Object.entries(config.egressProxies)) {
    out.push({
      face: 'egressProxy',
      what: `egressProxies.${name}`,
      bind: ep.listen,
      groups: ep.securityGroups,
      path: ['egressProxies', name, 'listen'],
      ...(ep.proxyProtocol ? { trustedProxies: ep.trustedProxies } : {}),
    });
  }
  return out;
}

// What should be forwarded and admitted, computed from config alone: one entry per public port.
// Kept apart from who moves the bytes (the userspace relay today, a kernel data path later), so
// both can be driven by the same plan.
import type { Config } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import type { HostPort } from '../net/address.js';
import type { Cidr } from '../net/cidr.js';

export interface ForwardPlanEntry {
  /** Stable identity of the listener: "portForwards/nat/0.0.0.0:6380". */
  readonly key: string;
  readonly face: 'portForward';
  readonly name: string;
  /** The forward line this port comes from: "nat/1" is portForwards.nat.forwards[1]. */
  readonly line: string;
  /** All public ports of that line. */
  readonly lineRange: readonly [number, number];
  readonly bind: HostPort;
  /** The address clients are told to use in rewritten cluster replies; absent = the one they dialed. */
  readonly publicAddress: string | undefined;
  readonly groups: readonly string[];
  /** A fixed target, or the cluster node the live port map gives this port. */
  readonly target:
    { kind: 'address'; address: HostPort } | { kind: 'cluster'; cluster: string; slot: number };
  readonly connectTimeout: number;
  readonly idleTimeout: number;
  readonly dataPath: 'userspace' | 'kernel';
  /** `summary`: one `closed` line per session, with the admission's rule, instead of three lines. */
  readonly connectionLog: 'full' | 'summary';
  /** PROXY v2 headers honoured from these load balancers (proxyProtocol: v2). */
  readonly trustedProxies?: readonly Cidr[];
  readonly where: string;
}

export function planPortForwards(config: Config, source: ConfigSource): ForwardPlanEntry[] {
  const out: ForwardPlanEntry[] = [];
  for (const [name, group] of Object.entries(config.portForwards)) {
    group.forwards.forEach((f, i) => {
      const where = source.where(['portForwards', name, 'forwards', i]);
      for (let port = f.listen[0]; port <= f.listen[1]; port++) {
        const offset = port - f.listen[0];
        let target: ForwardPlanEntry['target'];
        if (f.target) {
          const single = f.target.ports[0] === f.target.ports[1];
          target = {
            kind: 'address',
            address: { host: f.target.host, port: single ? f.target.ports[0] : f.target.ports[0] + offset },
          };
        } else {
          target = { kind: 'cluster', cluster: f.cluster!, slot: offset };
        }
        out.push({
          key: `portForwards/${name}/${group.address}:${port}`,
          face: 'portForward',
          name,
          line: `${name}/${i}`,
          lineRange: f.listen,
          bind: { host: group.address, port },
          publicAddress: group.publicAddress,
          groups: group.securityGroups,
          target,
          connectTimeout: group.connectTimeout,
          idleTimeout: group.idleTimeout,
          dataPath: group.dataPath,
          connectionLog: group.connectionLog,
          ...(group.proxyProtocol ? { trustedProxies: group.trustedProxies } : {}),
          where,
        });
      }
    });
  }
  return out;
}

// `gatehouse explain`: the same decisions the daemon makes, for a source address and a listener
// address, printed with the rule and FILE:LINE that decided. Pure: config and policy in, values out.
import type { Config } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import type { Decision } from './decision.js';
import { planPortForwards } from './forward-plan.js';
import { listConfiguredListeners, type ListenerEntry } from './listeners.js';
import { decideEgress, decideIngress, type SecurityPolicy } from './security-groups.js';

export interface ExplainStep {
  readonly step: 'ingress' | 'egress';
  readonly subject: string;
  readonly decision: Decision;
}

export interface ExplainResult {
  readonly listener: ListenerEntry;
  readonly allowed: boolean;
  readonly steps: readonly ExplainStep[];
  /** The forward target, where the listener forwards to a fixed address. */
  readonly target?: string;
}

function bindMatches(bind: HostPort, to: HostPort): boolean {
  if (bind.port !== to.port) return false;
  if (bind.host === '0.0.0.0' || bind.host === '::') return true;
  return parseIp(bind.host)?.toString() === parseIp(to.host)?.toString();
}

export function explain(
  config: Config,
  source: ConfigSource,
  policy: SecurityPolicy,
  from: IpAddress,
  to: HostPort,
): ExplainResult[] {
  const plan = planPortForwards(config, source);
  return listConfiguredListeners(config)
    .filter((l) => bindMatches(l.bind, to))
    .map((listener) => {
      const steps: ExplainStep[] = [];
      const ingress = decideIngress(policy, listener.groups, from, to.port);
      steps.push({
        step: 'ingress',
        subject: `${from.toString()} → ${formatHostPort(to.host, to.port)}`,
        decision: ingress,
      });
      let target: string | undefined;
      if (ingress.allowed && listener.face === 'portForward') {
        const entry = plan.find((p) => bindMatches(p.bind, to) && p.key.startsWith(`portForwards/`));
        if (entry?.target.kind === 'address') {
          target = formatHostPort(entry.target.address.host, entry.target.address.port);
          const ip = parseIp(entry.target.address.host);
          if (ip) {
            steps.push({
              step: 'egress',
              subject: target,
              decision: decideEgress(policy, listener.groups, ip, entry.target.address.port),
            });
          }
        } else if (entry?.target.kind === 'cluster') {
          const node = config.clusters[entry.target.cluster]?.nodes[entry.target.slot];
          target = `cluster:${entry.target.cluster}#${entry.target.slot}`;
          const ip = node && parseIp(node.host);
          if (node && ip) {
            target = formatHostPort(node.host, node.port);
            steps.push({
              step: 'egress',
              subject: target,
              decision: decideEgress(policy, listener.groups, ip, node.port),
            });
          }
        }
      }
      return {
        listener,
        allowed: steps.every((s) => s.decision.allowed),
        steps,
        ...(target ? { target } : {}),
      };
    });
}

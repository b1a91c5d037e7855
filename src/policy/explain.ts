// `gatehouse explain`: the same decisions the daemon makes, for a source address and a listener
// address, printed with the rule and FILE:LINE that decided. Pure: config and policy in, values out.
import type { Config } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { bindsCollide, formatHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import { describeDecision, type Decision } from './decision.js';
import { compileAuthorization, decideAuthorization, describeAuthorization } from './authorization.js';
import { planPortForwards } from './forward-plan.js';
import { listConfiguredListeners, type ListenerEntry } from '../config/listeners.js';
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

/**
 * Which listeners a client connecting to `to` may meet: the same port, and the same address, or a
 * wildcard on either side. `--to 16379` (a bare port, taken as 0.0.0.0) and `--to 0.0.0.0:16379`
 * mean "whichever address": they find a listener bound to 127.0.0.1:16379 as well.
 */
function bindMatches(bind: HostPort, to: HostPort): boolean {
  return bindsCollide(bind, to);
}

const sameBind = (a: HostPort, b: HostPort) => a.port === b.port && a.host === b.host;

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::';

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
      // A wildcard asked for is the listener's own address in the answer.
      const dialed = isWildcard(to.host) ? listener.bind : to;
      steps.push({
        step: 'ingress',
        subject: `${from.toString()} → ${formatHostPort(dialed.host, dialed.port)}`,
        decision: ingress,
      });
      let target: string | undefined;
      if (ingress.allowed && listener.face === 'portForward') {
        const entry = plan.find((p) => sameBind(p.bind, listener.bind) && p.key.startsWith(`portForwards/`));
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

export interface AccessExplainResult {
  readonly endpoint: string;
  readonly allowed: boolean;
  readonly steps: readonly {
    step: 'ingress' | 'authorization' | 'egress';
    subject: string;
    text: string;
    allowed: boolean;
  }[];
}

/**
 * `explain --client`: may a client certificate with `groups`, connecting from `from`, reach the
 * private target `to` through each access endpoint? Security groups of the endpoint listener,
 * then its authorization rules, then egress of its groups — the order the daemon decides in.
 */
export function explainAccess(
  config: Config,
  source: ConfigSource,
  policy: SecurityPolicy,
  from: IpAddress,
  to: HostPort,
  groups: readonly string[],
): AccessExplainResult[] {
  const target = parseIp(to.host);
  return Object.entries(config.accessEndpoints).map(([name, ep]) => {
    const steps: AccessExplainResult['steps'][number][] = [];
    const ingress = decideIngress(policy, ep.securityGroups, from, ep.listen.port);
    steps.push({
      step: 'ingress',
      subject: `${from.toString()} → ${formatHostPort(ep.listen.host, ep.listen.port)}`,
      text: describeDecision(ingress),
      allowed: ingress.allowed,
    });
    if (ingress.allowed && target) {
      const auth = decideAuthorization(compileAuthorization(name, ep, source), groups, target, to.port);
      steps.push({
        step: 'authorization',
        subject: formatHostPort(to.host, to.port),
        text: describeAuthorization(auth),
        allowed: auth.allowed,
      });
      if (auth.allowed) {
        const egress = decideEgress(policy, ep.securityGroups, target, to.port);
        steps.push({
          step: 'egress',
          subject: formatHostPort(to.host, to.port),
          text: describeDecision(egress),
          allowed: egress.allowed,
        });
      }
    } else if (ingress.allowed) {
      steps.push({
        step: 'authorization',
        subject: to.host,
        text: 'denied: the target must be an IP address',
        allowed: false,
      });
    }
    return { endpoint: name, allowed: steps.every((s) => s.allowed), steps };
  });
}

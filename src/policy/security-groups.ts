// Security groups, compiled once per config snapshot and decided per connection. Stateful like the
// cloud original: a connection admitted by ingress may carry replies; nothing tracks return traffic.
// A listener's groups are a union: any rule of any group may admit.
import type { Config } from '../config/schema.js';
import type { PeerRef } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { cidrContains, type Cidr, type IpAddress } from '../net/cidr.js';
import { portSetHas, type PortSet } from '../net/ports.js';
import type { Decision, RuleRef } from './decision.js';

interface CompiledRule {
  readonly ports: PortSet;
  /** Resolved CIDRs: a literal CIDR, or the members of the referenced group. */
  readonly peers: readonly Cidr[];
  readonly ref: RuleRef;
}

interface CompiledGroup {
  readonly name: string;
  readonly ingress: readonly CompiledRule[];
  /** undefined: the group has no egress rules, which allows all egress. */
  readonly egress: readonly CompiledRule[] | undefined;
}

export interface SecurityPolicy {
  readonly groups: ReadonlyMap<string, CompiledGroup>;
}

function peerText(p: PeerRef): string {
  return p.kind === 'group' ? `sg:${p.group}` : p.cidr.text;
}

export function compileSecurityPolicy(config: Config, source: ConfigSource): SecurityPolicy {
  const membersOf = (group: string): readonly Cidr[] => config.securityGroups[group]?.members ?? [];
  const resolve = (p: PeerRef): readonly Cidr[] => (p.kind === 'cidr' ? [p.cidr] : membersOf(p.group));
  const groups = new Map<string, CompiledGroup>();
  for (const [name, g] of Object.entries(config.securityGroups)) {
    const ingress = (g.ingress ?? []).map((r, index): CompiledRule => ({
      ports: r.ports,
      peers: resolve(r.source),
      ref: {
        group: name,
        direction: 'ingress',
        index,
        text: `${r.protocol} ${r.ports.text} from ${peerText(r.source)}`,
        where: source.where(['securityGroups', name, 'ingress', index]),
      },
    }));
    const egress = g.egress?.map((r, index): CompiledRule => ({
      ports: r.ports,
      peers: resolve(r.destination),
      ref: {
        group: name,
        direction: 'egress',
        index,
        text: `${r.protocol} ${r.ports.text} to ${peerText(r.destination)}`,
        where: source.where(['securityGroups', name, 'egress', index]),
      },
    }));
    groups.set(name, { name, ingress, egress });
  }
  return { groups };
}

function firstMatch(rules: readonly CompiledRule[], ip: IpAddress, port: number): CompiledRule | undefined {
  for (const rule of rules) {
    if (!portSetHas(rule.ports, port)) continue;
    for (const peer of rule.peers) if (cidrContains(peer, ip)) return rule;
  }
  return undefined;
}

/** May a connection from `source` to local port `port` enter a listener carrying `groupNames`? */
export function decideIngress(
  policy: SecurityPolicy,
  groupNames: readonly string[],
  source: IpAddress,
  port: number,
): Decision {
  if (groupNames.length === 0) return { allowed: true, reason: 'no_security_groups', groups: groupNames };
  for (const name of groupNames) {
    const group = policy.groups.get(name);
    const rule = group && firstMatch(group.ingress, source, port);
    if (rule) return { allowed: true, reason: 'ingress_rule_matched', rule: rule.ref, groups: groupNames };
  }
  return { allowed: false, reason: 'no_ingress_rule_matched', groups: groupNames };
}

/** May a face whose listener carries `groupNames` dial `destination`:`port`? */
export function decideEgress(
  policy: SecurityPolicy,
  groupNames: readonly string[],
  destination: IpAddress,
  port: number,
): Decision {
  if (groupNames.length === 0) return { allowed: true, reason: 'no_security_groups', groups: groupNames };
  for (const name of groupNames) {
    if (policy.groups.get(name)?.egress === undefined) {
      return { allowed: true, reason: 'egress_unrestricted', groups: [name] };
    }
  }
  for (const name of groupNames) {
    const rule = firstMatch(policy.groups.get(name)!.egress!, destination, port);
    if (rule) return { allowed: true, reason: 'egress_rule_matched', rule: rule.ref, groups: groupNames };
  }
  return { allowed: false, reason: 'no_egress_rule_matched', groups: groupNames };
}

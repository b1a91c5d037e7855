// Authorization rules of an access endpoint (Client VPN's "authorization rules"): which targets a
// client certificate's groups may reach. Pure: compiled once per config snapshot, decided per
// target. Fail closed: no rule that covers the target denies.
//
// Evaluation, as the cloud original: among the rules whose `target` CIDR (and `ports`, when given)
// covers the destination, the most specific prefix wins; a client is allowed when any rule of that
// prefix length names one of its groups (or has `allGroups: true`).
import type { AccessEndpointConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { cidrContains, type Cidr, type IpAddress } from '../net/cidr.js';
import { portSetHas, type PortSet } from '../net/ports.js';

export const AUTHORIZATION_REASONS = [
  'authorization_rule_matched',
  'no_authorization_rule_matched',
  'not_in_authorized_group',
] as const;
export type AuthorizationReason = (typeof AUTHORIZATION_REASONS)[number];

export interface AuthorizationRuleRef {
  readonly endpoint: string;
  /** 0-based position in the endpoint's rule list. */
  readonly index: number;
  /** The rule as a person reads it: "10.0.1.0/24 ports 6379 for groups developers". */
  readonly text: string;
  /** FILE:LINE of the rule. */
  readonly where: string;
}

export interface AuthorizationDecision {
  readonly allowed: boolean;
  readonly reason: AuthorizationReason;
  /** The rule that decided: the allowing rule, or the most specific rule that covered the target. */
  readonly rule?: AuthorizationRuleRef;
  /** The client's groups that were consulted. */
  readonly groups: readonly string[];
}

interface CompiledAuthRule {
  readonly target: Cidr;
  readonly ports: PortSet | undefined;
  /** undefined: allGroups. */
  readonly groups: ReadonlySet<string> | undefined;
  readonly ref: AuthorizationRuleRef;
}

export interface AuthorizationPolicy {
  readonly endpoint: string;
  readonly rules: readonly CompiledAuthRule[];
}

export function compileAuthorization(
  endpoint: string,
  config: Pick<AccessEndpointConfig, 'authorizationRules'>,
  source: ConfigSource,
): AuthorizationPolicy {
  const rules = config.authorizationRules.map((r, index): CompiledAuthRule => {
    const who = r.allGroups === true ? 'all groups' : `groups ${(r.groups ?? []).join(', ')}`;
    return {
      target: r.target,
      ports: r.ports,
      groups: r.allGroups === true ? undefined : new Set(r.groups ?? []),
      ref: {
        endpoint,
        index,
        text: `${r.target.text}${r.ports ? ` ports ${r.ports.text}` : ''} for ${who}`,
        where: source.where(['accessEndpoints', endpoint, 'authorizationRules', index]),
      },
    };
  });
  return { endpoint, rules };
}

/** May a client carrying `groups` reach `ip`:`port` through this endpoint? */
export function decideAuthorization(
  policy: AuthorizationPolicy,
  groups: readonly string[],
  ip: IpAddress,
  port: number,
): AuthorizationDecision {
  let best = -1;
  let covering: CompiledAuthRule | undefined;
  let allowing: CompiledAuthRule | undefined;
  for (const rule of policy.rules) {
    if (!cidrContains(rule.target, ip)) continue;
    if (rule.ports && !portSetHas(rule.ports, port)) continue;
    const bits = rule.target.bits;
    if (bits < best) continue;
    if (bits > best) {
      best = bits;
      covering = rule;
      allowing = undefined;
    }
    if (!allowing && (rule.groups === undefined || groups.some((g) => rule.groups!.has(g)))) allowing = rule;
  }
  if (allowing) return { allowed: true, reason: 'authorization_rule_matched', rule: allowing.ref, groups };
  if (covering) return { allowed: false, reason: 'not_in_authorized_group', rule: covering.ref, groups };
  return { allowed: false, reason: 'no_authorization_rule_matched', groups };
}

export function describeAuthorization(d: AuthorizationDecision): string {
  const g = d.groups.length ? d.groups.join(', ') : '(none)';
  switch (d.reason) {
    case 'authorization_rule_matched':
      return `allowed by authorization rule ${d.rule!.index + 1} (${d.rule!.text}) at ${d.rule!.where}`;
    case 'not_in_authorized_group':
      return `denied: authorization rule ${d.rule!.index + 1} (${d.rule!.text}) at ${d.rule!.where} covers the target, but the client's groups (${g}) are not in it`;
    case 'no_authorization_rule_matched':
      return 'denied: no authorization rule covers the target';
  }
}

/** The rules a client with `groups` may use: what a client profile lists as its reachable targets. */
export function targetsForGroups(policy: AuthorizationPolicy, groups: readonly string[]): string[] {
  return policy.rules
    .filter((r) => r.groups === undefined || groups.some((g) => r.groups!.has(g)))
    .map((r) => `${r.target.text}${r.ports ? ` ports ${r.ports.text}` : ''}`);
}

// Egress decisions as values: may this client (user, source address) reach this host and port, by
// this method? The answer names its reason (a closed set) and the rule that decided, with FILE:LINE
// (an allowlist line, or a config line). Pure: the 403 page, the access log, the audit line and
// the metrics all print this same value.
import type { IpAddress } from '../net/cidr.js';
import { cidrContains, type Cidr } from '../net/cidr.js';
import { portSetHas, type PortSet } from '../net/ports.js';
import { matchAllowlist, type Allowlist } from './allowlist.js';
import { guardDestination, type GuardConfig } from './destination-guard.js';
import type { NormalizedHost, InvalidHost } from './egress-host.js';
import type ipaddr from 'ipaddr.js';

export const EGRESS_REASONS = [
  'allowlist_matched',
  'not_in_allowlist',
  'no_policy_matched',
  'allowlist_unavailable',
  'port_not_allowed',
  'connect_port_not_allowed',
  'invalid_host',
  'auth_required',
  'auth_failed',
  'private_destination',
  'private_destination_allowed',
  'security_group_egress_denied',
  'public_destination',
  'report_only',
  'max_concurrent',
  'max_concurrent_per_principal',
] as const;
export type EgressReason = (typeof EGRESS_REASONS)[number];

export interface EgressRuleRef {
  /** The rule as a person reads it: ".example.com", "connectPorts 443". */
  readonly text: string;
  /** FILE:LINE */
  readonly where: string;
}

export interface EgressDecision {
  readonly allowed: boolean;
  readonly reason: EgressReason;
  readonly rule?: EgressRuleRef;
  /** The policy whose allowlist was consulted ("default" for the proxy's own allowlist). */
  readonly policy?: string;
  /** In report-only mode: the reason this would have been denied. */
  readonly wouldDeny?: EgressReason;
}

export interface CompiledEgressPolicy {
  readonly name: string;
  readonly users?: ReadonlySet<string>;
  readonly sources?: readonly Cidr[];
  /** The allowlist file (resolved path) this policy uses. */
  readonly allowlist: string;
  readonly where: string;
}

export interface EgressRules {
  readonly policies: readonly CompiledEgressPolicy[];
  /** The proxy's own allowlist file, for everyone no policy names. */
  readonly defaultAllowlist?: string;
  readonly httpPorts: PortSet;
  readonly connectPorts: PortSet;
  readonly httpPortsWhere: string;
  readonly connectPortsWhere: string;
  readonly reportOnly: boolean;
}

export interface EgressRequest {
  readonly connect: boolean;
  readonly host: NormalizedHost | InvalidHost;
  readonly port: number;
  /** The authenticated user, if the proxy has auth. */
  readonly user?: string;
  readonly source: IpAddress;
}

/** The policy that serves this user and source: the first that names both, else the default. */
export function selectPolicy(
  rules: EgressRules,
  user: string | undefined,
  source: IpAddress,
): { name: string; allowlist: string } | undefined {
  for (const p of rules.policies) {
    if (p.users && (user === undefined || !p.users.has(user))) continue;
    if (p.sources && !p.sources.some((c) => cidrContains(c, source))) continue;
    return { name: p.name, allowlist: p.allowlist };
  }
  return rules.defaultAllowlist ? { name: 'default', allowlist: rules.defaultAllowlist } : undefined;
}

function reportOnly(rules: EgressRules, d: EgressDecision): EgressDecision {
  if (d.allowed || !rules.reportOnly || d.reason === 'invalid_host') return d;
  return { ...d, allowed: true, reason: 'report_only', wouldDeny: d.reason };
}

/**
 * Squid's order: ports first (deny !Safe_ports, deny CONNECT !SSL_ports), then the allowlist.
 * `lists` gives the loaded allowlist of each file; a missing one denies (fail closed).
 */
export function decideEgressRequest(
  rules: EgressRules,
  lists: ReadonlyMap<string, Allowlist>,
  req: EgressRequest,
): EgressDecision {
  if (req.host.kind === 'invalid') return { allowed: false, reason: 'invalid_host' };
  const policy = selectPolicy(rules, req.user, req.source);
  const at = policy ? { policy: policy.name } : {};
  if (req.connect) {
    if (!portSetHas(rules.connectPorts, req.port))
      return reportOnly(rules, {
        allowed: false,
        reason: 'connect_port_not_allowed',
        rule: { text: `connectPorts ${rules.connectPorts.text}`, where: rules.connectPortsWhere },
        ...at,
      });
  } else if (!portSetHas(rules.httpPorts, req.port)) {
    return reportOnly(rules, {
      allowed: false,
      reason: 'port_not_allowed',
      rule: { text: `httpPorts ${rules.httpPorts.text}`, where: rules.httpPortsWhere },
      ...at,
    });
  }
  if (!policy) return reportOnly(rules, { allowed: false, reason: 'no_policy_matched' });
  const list = lists.get(policy.allowlist);
  if (!list) return reportOnly(rules, { allowed: false, reason: 'allowlist_unavailable', ...at });
  const entry = matchAllowlist(list, req.host);
  if (!entry) return reportOnly(rules, { allowed: false, reason: 'not_in_allowlist', ...at });
  return {
    allowed: true,
    reason: 'allowlist_matched',
    rule: { text: entry.text, where: entry.where },
    ...at,
  };
}

/** After DNS: may the proxy connect to this address? Never report-only: the guard always holds. */
export function decideDestination(raw: ipaddr.IPv4 | ipaddr.IPv6, guard: GuardConfig): EgressDecision {
  const v = guardDestination(raw, guard);
  if (!v.allowed)
    return { allowed: false, reason: 'private_destination', rule: { text: v.cls, where: 'built-in' } };
  if (v.allowedBy)
    return {
      allowed: true,
      reason: 'private_destination_allowed',
      rule: { text: `unsafeAllowPrivateDestinations ${v.allowedBy.cidr.text}`, where: v.allowedBy.where },
    };
  return { allowed: true, reason: 'public_destination' };
}

export function describeEgressDecision(d: EgressDecision): string {
  const verdict = d.allowed ? 'allowed' : 'denied';
  const rule = d.rule ? ` by ${d.rule.text} at ${d.rule.where}` : '';
  const policy = d.policy ? ` (policy ${d.policy})` : '';
  if (d.wouldDeny) return `allowed in report-only mode; would be denied: ${d.wouldDeny}${rule}${policy}`;
  return `${verdict}: ${d.reason}${rule}${policy}`;
}

// A decision is a value: who asked, what was decided, why (from a closed set) and which rule (with
// FILE:LINE) decided. The audit line, a refusal, `explain` and the console all print this same value.

export const DECISION_REASONS = [
  'ingress_rule_matched',
  'no_ingress_rule_matched',
  'no_security_groups',
  'egress_rule_matched',
  'no_egress_rule_matched',
  'egress_unrestricted',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

export interface RuleRef {
  readonly group: string;
  readonly direction: 'ingress' | 'egress';
  /** 0-based position in the group's rule list. */
  readonly index: number;
  /** The rule as a person reads it: "tcp 6380-6385 from sg:office". */
  readonly text: string;
  /** FILE:LINE of the rule. */
  readonly where: string;
}

export interface Decision {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  readonly rule?: RuleRef;
  /** The groups that were consulted, in order. */
  readonly groups: readonly string[];
}

export function describeDecision(d: Decision): string {
  const verdict = d.allowed ? 'allowed' : 'denied';
  switch (d.reason) {
    case 'ingress_rule_matched':
    case 'egress_rule_matched':
      return `${verdict} by group ${d.rule!.group} ${d.rule!.direction} rule ${d.rule!.index + 1} (${d.rule!.text}) at ${d.rule!.where}`;
    case 'no_ingress_rule_matched':
      return `${verdict}: no ingress rule of group(s) ${d.groups.join(', ')} matched`;
    case 'no_egress_rule_matched':
      return `${verdict}: no egress rule of group(s) ${d.groups.join(', ')} matched`;
    case 'no_security_groups':
      return `${verdict}: the listener has no security groups`;
    case 'egress_unrestricted':
      return `${verdict}: group ${d.groups.find(Boolean) ?? ''} has no egress rules (absent egress allows all)`;
  }
}

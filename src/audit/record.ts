// Builders for the parts of an audit record that every face writes the same way: a decision (who
// allowed or refused, by which rule at FILE:LINE) and an error (its code when it has one).
import type { Decision } from '../policy/decision.js';
import type { AuditEventInput } from './events.js';

type DecisionFields = Pick<AuditEventInput, 'allowed' | 'reason' | 'rule' | 'where'>;

/** allowed, reason, and rule/where when a rule decided. */
export function decisionFields(d: Pick<Decision, 'allowed' | 'reason' | 'rule'>): DecisionFields {
  return d.rule
    ? { allowed: d.allowed, reason: d.reason, rule: d.rule.text, where: d.rule.where }
    : { allowed: d.allowed, reason: d.reason };
}

/** An error as an audit line shows it: the system code (ECONNRESET) when there is one. */
export function errorText(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

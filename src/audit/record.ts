// Builders for the parts of an audit record that every face writes the same way: a decision (who
// allowed or refused, by which rule at FILE:LINE) and an error (its code when it has one).
import type { AuditEventInput } from './events.js';

/** Any decision: a security group's, an authorization rule's, an egress request's. */
interface DecisionLike {
  readonly allowed: boolean;
  readonly reason: string;
  readonly rule?: { readonly text: string; readonly where: string } | undefined;
}

type DecisionFields = Pick<AuditEventInput, 'allowed' | 'reason' | 'rule' | 'where'>;

/** allowed, reason, and rule/where when a rule decided. */
export function decisionFields(d: DecisionLike): DecisionFields {
  return d.rule
    ? { allowed: d.allowed, reason: d.reason, rule: d.rule.text, where: d.rule.where }
    : { allowed: d.allowed, reason: d.reason };
}

/**
 * The admission carried on a session's last line, when it is the only line (a port forward's
 * `connectionLog: summary`): allowed and the rule at FILE:LINE; `reason` stays the close reason.
 */
export function admittedFields(d: DecisionLike): Pick<AuditEventInput, 'allowed' | 'rule' | 'where'> {
  return d.rule ? { allowed: d.allowed, rule: d.rule.text, where: d.rule.where } : { allowed: d.allowed };
}

/** An error as an audit line shows it: the system code (ECONNRESET) when there is one. */
export function errorText(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

/** The end of a session as the relay (or an exchange) reports it. */
export interface SessionEnd {
  readonly reason: string;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly durationMs: number;
  readonly error?: Error | undefined;
}

/** How a session ended: the reason, bytes each way, how long it ran, and the error if one ended it. */
export function closedFields(
  r: SessionEnd,
): Pick<AuditEventInput, 'reason' | 'bytesFromClient' | 'bytesToClient' | 'durationMs' | 'error'> {
  const fields = {
    reason: r.reason,
    bytesFromClient: r.bytesFromClient,
    bytesToClient: r.bytesToClient,
    durationMs: r.durationMs,
  };
  return r.error ? { ...fields, error: errorText(r.error) } : fields;
}

// Admit: the first step of every face. Security groups decide on the source address and the local
// port of the accepted socket, before any byte is read; then the listener's limits (limits.ts):
// open connections on the listener and per source, and the rate of new ones per source.
// admitOrRefuse is the refusal path of every face: the socket is reset and a `denied` line is
// audited with the reason (a security group's, or the limit's, with FILE:LINE of its key).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Audit, AuditEventInput } from '../audit/events.js';
import { decisionFields } from '../audit/record.js';
import { formatHostPort } from '../net/address.js';
import { parseIp } from '../net/cidr.js';
import type { Decision } from '../policy/decision.js';
import { clientOf } from './proxy-header.js';
import { gateOf } from './limits.js';
import { decideIngress, type SecurityPolicy } from '../policy/security-groups.js';
import type { SessionRegistry } from './session-registry.js';

const NO_ADDRESS: Decision = { allowed: false, reason: 'no_ingress_rule_matched', groups: [] };

export function admit(policy: SecurityPolicy, groups: readonly string[], socket: Socket): Decision {
  // The client's address: a PROXY header's on a proxied listener, else the socket's peer.
  const client = clientOf(socket).address;
  const ip = client ? parseIp(client) : undefined;
  // A socket that is already gone has no address; it cannot be admitted.
  if (!ip || socket.localPort === undefined) return NO_ADDRESS;
  return decideIngress(policy, groups, ip, socket.localPort);
}

/** "198.51.100.27:50412", with IPv4-mapped IPv6 shown as IPv4. */
export function peerLabel(socket: Socket): string {
  const { address, port } = clientOf(socket);
  const ip = address ? (parseIp(address)?.toString() ?? address) : '?';
  return formatHostPort(ip, port ?? 0);
}

/** `via`: the load balancer a PROXY header came from, for an audit line that names both. */
export function viaOf(socket: Socket): { via?: string } {
  const via = clientOf(socket).via;
  return via ? { via } : {};
}

/** Where a connection arrived: the face, the listener's label and its security groups. */
export interface AdmitSite {
  readonly face: string;
  readonly listener: string;
  readonly groups: readonly string[];
}

export interface AdmitDeps {
  readonly policy: SecurityPolicy;
  readonly audit: Audit;
  /** Its outcomes count the refusal (the metrics' denials). */
  readonly sessions: Pick<SessionRegistry, 'outcomes'>;
  /** Where a limit's refusals are logged (throttled). */
  readonly log?: Logger;
}

/** Fields a face adds to its denied line (the access endpoints' connection-log fields). */
export type DeniedExtra = Pick<AuditEventInput, 'endpoint' | 'clientIp' | 'clientPort' | 'status'>;

/**
 * Admit or refuse: the admitting decision, or undefined once a refused socket has been reset and
 * its `denied` line audited. The one denial path of every face, always audited.
 */
export function admitOrRefuse(
  deps: AdmitDeps,
  site: AdmitSite,
  socket: Socket,
  source: string = peerLabel(socket),
  extra?: DeniedExtra,
): Decision | undefined {
  const admission = admit(deps.policy, site.groups, socket);
  // Limits after the security groups: a source that is not admitted takes no share of them.
  const gate = admission.allowed ? gateOf(socket) : undefined;
  const limited = gate?.admit(socket);
  if (admission.allowed && (!limited || limited.allowed)) return admission;
  socket.resetAndDestroy();
  const refusal = limited && !limited.allowed ? { ...limited, reason: limited.reason! } : admission;
  deps.sessions.outcomes.denied(site.face, site.listener, refusal.reason);
  deps.audit.emit({
    event: 'denied',
    face: site.face,
    ...extra,
    listener: site.listener,
    source,
    ...viaOf(socket),
    ...decisionFields(refusal),
  });
  if (gate && refusal !== admission)
    gate.log.refused(
      deps.log,
      { face: site.face, listener: site.listener, source, reason: refusal.reason, limit: refusal.rule?.text },
      refusal.reason,
    );
  return undefined;
}

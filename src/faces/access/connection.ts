// One client connection of an access endpoint, after the TLS handshake: who it is, what it may
// reach, and the target sessions it carries (one for a direct listener, one per CONNECT stream for
// the tunnel). Authorize → dial → relay → audit for one target lives here, shared by both.
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AccessEndpointConfig } from '../../config/schema.js';
import type { AuditEventInput } from '../../audit/events.js';
import { closedFields, decisionFields } from '../../audit/record.js';
import { toWire, wireFor, type WireError } from '../../errors.js';
import { formatHostPort, type HostPort } from '../../net/address.js';
import { parseIp } from '../../net/cidr.js';
import { clientOf } from '../../pipeline/proxy-header.js';
import { DialDenied, resolveHost, type Resolved } from '../../pipeline/resolve.js';
import { dialAddress } from '../../pipeline/dial.js';
import type { Relay, RelayOptions } from '../../pipeline/relay.js';
import { runRelay } from '../../pipeline/session-runner.js';
import type { CloseReason } from '../../pipeline/session-registry.js';
import {
  decideAuthorization,
  describeAuthorization,
  type AuthorizationPolicy,
} from '../../policy/authorization.js';
import { decideEgress } from '../../policy/security-groups.js';
import { HeldSlot, type ConcurrencyGate } from '../../policy/connection-limits.js';
import type { RefusalLog } from '../../pipeline/limits.js';
import type { FaceContext } from '../context.js';
import type { CertificateRefusal, ClientIdentity } from './identity.js';

export const FACE = 'accessEndpoint';

/** What a route of an access endpoint knows under one config snapshot. */
export interface EndpointSpec {
  readonly name: string;
  readonly config: AccessEndpointConfig;
  readonly authz: AuthorizationPolicy;
  /** Target sessions open at once per certificate (limits.maxSessionsPerCertificate), kept across snapshots. */
  readonly certificates: CertificateSessions;
}

/** The per-certificate session count of one endpoint and the throttle of its refusal log lines. */
export interface CertificateSessions {
  readonly gate: ConcurrencyGate;
  readonly log: RefusalLog;
}

/** A live, verified client connection: what revocation and the session timeout close. */
export interface ClientConnection {
  readonly id: string;
  readonly endpoint: string;
  readonly listener: string;
  readonly source: string;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly identity: ClientIdentity;
  readonly startedAt: Date;
  readonly socket: TLSSocket;
  readonly relays: Set<Relay>;
  /** Close every session of this connection with `reason`, then the connection. */
  close(reason: CloseReason): void;
}

/** The fields of a connection-log line that the caller fills in; the rest come from the connection. */
type LogFields = Omit<
  AuditEventInput,
  'event' | 'face' | 'endpoint' | 'listener' | 'source' | 'clientIp' | 'clientPort'
>;

export interface Peer {
  readonly source: string;
  readonly clientIp: string;
  readonly clientPort: number;
  /** The load balancer that relayed the connection (PROXY protocol). */
  readonly via?: string;
}

export function peerOf(socket: Socket): Peer {
  const client = clientOf(socket);
  const raw = client.address ?? '?';
  const clientIp = parseIp(raw)?.toString() ?? raw;
  const clientPort = client.port ?? 0;
  return {
    source: formatHostPort(clientIp, clientPort),
    clientIp,
    clientPort,
    ...(client.via ? { via: client.via } : {}),
  };
}

export function logEvent(
  ctx: FaceContext,
  spec: EndpointSpec,
  listener: string,
  peer: Peer,
  event: 'accepted' | 'denied' | 'dial_failed' | 'closed',
  fields: LogFields,
): void {
  if (!spec.config.connectionLog) return;
  ctx.audit.emit({ event, ...peerFields(spec, listener, peer), ...fields });
}

/** Who and where, on every audit line of this face: the endpoint, its listener, the client. */
export function peerFields(spec: EndpointSpec, listener: string, peer: Peer) {
  return {
    face: FACE,
    endpoint: spec.name,
    listener,
    source: peer.source,
    ...(peer.via ? { via: peer.via } : {}),
    clientIp: peer.clientIp,
    clientPort: peer.clientPort,
  } satisfies Partial<AuditEventInput>;
}

/** A refused handshake or certificate: logged with the client address. */
export function logRefusedCertificate(
  ctx: FaceContext,
  spec: EndpointSpec,
  listener: string,
  peer: Peer,
  reason: CertificateRefusal | 'handshake_failed' | 'handshake_timeout',
  detail: string,
  cert?: { commonName?: string; serial?: string },
): void {
  // Counted whatever connectionLog says: the metrics are not the connection log.
  ctx.sessions.outcomes.handshakeFailed(spec.name, reason);
  logEvent(ctx, spec, listener, peer, 'denied', {
    session: ctx.sessions.newId(),
    allowed: false,
    status: 'failed',
    reason,
    error: detail,
    ...(cert?.commonName ? { identity: cert.commonName, commonName: cert.commonName } : {}),
    ...(cert?.serial ? { serial: cert.serial } : {}),
    startTime: new Date().toISOString(),
  });
}

export type TargetOutcome =
  { ok: true; upstream: Socket; sessionId: string; target: string } | { ok: false; refusal: WireError };

/**
 * Resolve the target once, authorize that address for this connection's groups, hold it against
 * the endpoint's security-group egress, and dial exactly it. Logs the attempt.
 */
export async function openTarget(
  ctx: FaceContext,
  spec: EndpointSpec,
  conn: ClientConnection,
  target: HostPort,
  /** Fields every line of this session carries (a direct listener's `redisUser`). */
  extra: Pick<LogFields, 'redisUser'> = {},
): Promise<TargetOutcome> {
  const sessionId = ctx.sessions.newId();
  const label = formatHostPort(target.host, target.port);
  const base = {
    ...extra,
    session: sessionId,
    connectionId: conn.id,
    target: label,
    identity: conn.identity.commonName,
    commonName: conn.identity.commonName,
    serial: conn.identity.serial,
    startTime: new Date().toISOString(),
  };
  let resolved: Resolved;
  try {
    resolved = await resolveHost(target.host);
  } catch {
    const message = `target ${label} does not resolve`;
    ctx.sessions.outcomes.dialFailed(FACE, conn.listener, 'GH_ERR_DIAL_FAILED');
    logEvent(ctx, spec, conn.listener, conn, 'dial_failed', {
      ...base,
      status: 'failed',
      reason: 'GH_ERR_DIAL_FAILED',
      error: message,
    });
    return { ok: false, refusal: wireFor('GH_ERR_DIAL_FAILED', 'GH_ERR_DIAL_FAILED', message) };
  }
  const decision = decideAuthorization(spec.authz, conn.identity.groups, resolved.ip, target.port);
  if (!decision.allowed) {
    ctx.sessions.outcomes.denied(FACE, conn.listener, decision.reason);
    logEvent(ctx, spec, conn.listener, conn, 'denied', {
      ...base,
      ...decisionFields(decision),
      status: 'failed',
      groups: conn.identity.groups,
    });
    const message = `${conn.identity.commonName} may not reach ${label}: ${describeAuthorization(decision)}`;
    return { ok: false, refusal: wireFor('GH_ERR_DENIED', decision.reason, message) };
  }
  // One more session for this certificate, counted until its target connection closes.
  const serial = conn.identity.serial;
  const slot = spec.certificates.gate.acquire(serial);
  if (!slot.allowed) {
    const reason = slot.reason!;
    ctx.sessions.outcomes.denied(FACE, conn.listener, reason);
    logEvent(ctx, spec, conn.listener, conn, 'denied', {
      ...base,
      ...decisionFields({ allowed: false, reason, rule: slot.rule }),
      status: 'failed',
    });
    spec.certificates.log.refused(
      ctx.log,
      {
        face: FACE,
        listener: conn.listener,
        source: conn.source,
        identity: conn.identity.commonName,
        serial,
        reason,
        limit: slot.rule?.text,
      },
      `${reason}:${serial}`,
    );
    const message = `${conn.identity.commonName} has ${slot.rule?.text ?? 'too many sessions'} open already`;
    return { ok: false, refusal: wireFor('GH_ERR_LIMIT', reason, message) };
  }
  const held = new HeldSlot(spec.certificates.gate, serial);
  const release = () => held.release();
  const egress = decideEgress(ctx.policy, spec.config.securityGroups, resolved.ip, target.port);
  if (!egress.allowed) {
    release();
    const err = new DialDenied(label, egress);
    ctx.sessions.outcomes.denied(FACE, conn.listener, egress.reason);
    logEvent(ctx, spec, conn.listener, conn, 'denied', {
      ...base,
      ...decisionFields(egress),
      status: 'failed',
      error: err.message,
    });
    return { ok: false, refusal: toWire(err, egress.reason) };
  }
  try {
    const socket = await dialAddress(resolved.address, target.port, {
      connectTimeout: spec.config.connectTimeout,
      readAfterReset: true,
    });
    socket.once('close', release);
    logEvent(ctx, spec, conn.listener, conn, 'accepted', {
      ...base,
      ...decisionFields(decision),
      status: 'succeeded',
      groups: conn.identity.groups,
    });
    return { ok: true, upstream: socket, sessionId, target: label };
  } catch (err) {
    ctx.sessions.outcomes.dialRefused(FACE, conn.listener, err);
    release();
    const refusal = toWire(err);
    logEvent(ctx, spec, conn.listener, conn, 'dial_failed', {
      ...base,
      status: 'failed',
      reason: refusal.code,
      error: refusal.message,
    });
    return { ok: false, refusal };
  }
}

/** Relay a client stream (the TLS socket, or one HTTP/2 stream) to a dialed target, as a session. */
export function startSession(
  ctx: FaceContext,
  spec: EndpointSpec,
  conn: ClientConnection,
  opened: { upstream: Socket; sessionId: string; target: string },
  client: Duplex,
  hooks: Pick<RelayOptions, 'transformToClient' | 'transformToTarget' | 'flushToClient'> = {},
  extra: Pick<LogFields, 'redisUser'> = {},
): Relay {
  const { upstream, sessionId: id, target } = opened;
  const startedAt = new Date();
  const start = {
    id,
    face: FACE,
    listener: conn.listener,
    source: conn.source,
    target,
    identity: conn.identity.commonName,
    serial: conn.identity.serial,
    startMs: startedAt.getTime(),
  };
  // The upstream socket counts both ways for every kind of client stream (an HTTP/2 stream has no
  // byte counters of its own).
  const counts = {
    get bytesFromClient() {
      return upstream.bytesWritten;
    },
    get bytesToClient() {
      return upstream.bytesRead;
    },
  };
  const r = runRelay(
    ctx.sessions,
    start,
    client,
    upstream,
    { idleTimeout: spec.config.idleTimeout, timers: ctx.timers, counts, ...hooks },
    (result) => {
      conn.relays.delete(r);
      logEvent(ctx, spec, conn.listener, conn, 'closed', {
        ...extra,
        session: id,
        connectionId: conn.id,
        target,
        identity: conn.identity.commonName,
        commonName: conn.identity.commonName,
        serial: conn.identity.serial,
        status: 'closed',
        startTime: startedAt.toISOString(),
        endTime: new Date().toISOString(),
        ...closedFields({
          ...result,
          bytesFromClient: upstream.bytesWritten,
          bytesToClient: upstream.bytesRead,
        }),
      });
    },
  );
  conn.relays.add(r);
  return r;
}

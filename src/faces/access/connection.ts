// One client connection of an access endpoint, after the TLS handshake: who it is, what it may
// reach, and the target sessions it carries (one for a direct listener, one per CONNECT stream for
// the tunnel). Authorize → dial → relay → audit for one target lives here, shared by both.
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AccessEndpointConfig } from '../../config/schema.js';
import { isGatehouseError } from '../../errors.js';
import { formatHostPort, type HostPort } from '../../net/address.js';
import { parseIp, type IpAddress } from '../../net/cidr.js';
import { resolveHost } from '../../pipeline/resolve.js';
import { dial, type DialDenied } from '../../pipeline/dial.js';
import { relay, type Relay, type RelayOptions } from '../../pipeline/relay.js';
import type { CloseReason } from '../../pipeline/session-registry.js';
import {
  decideAuthorization,
  describeAuthorization,
  type AuthorizationPolicy,
} from '../../policy/authorization.js';
import { decideEgress } from '../../policy/security-groups.js';
import type { FaceContext } from '../context.js';
import type { CertificateRefusal, ClientIdentity } from './identity.js';

export const FACE = 'accessEndpoint';

/** What a route of an access endpoint knows under one config snapshot. */
export interface EndpointSpec {
  readonly name: string;
  readonly config: AccessEndpointConfig;
  readonly authz: AuthorizationPolicy;
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

/** Extra connection-log fields (AWS Client VPN's connection log, in our names). */
type LogFields = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface Peer {
  readonly source: string;
  readonly clientIp: string;
  readonly clientPort: number;
}

export function peerOf(socket: Socket): Peer {
  const raw = socket.remoteAddress ?? '?';
  const clientIp = parseIp(raw)?.toString() ?? raw;
  const clientPort = socket.remotePort ?? 0;
  return { source: formatHostPort(clientIp, clientPort), clientIp, clientPort };
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
  const line = {
    event,
    face: FACE,
    endpoint: spec.name,
    listener,
    source: peer.source,
    clientIp: peer.clientIp,
    clientPort: peer.clientPort,
    ...fields,
  };
  ctx.audit.emit(line as Parameters<FaceContext['audit']['emit']>[0]);
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
  | { ok: true; upstream: Socket; sessionId: string; target: string }
  | { ok: false; status: 400 | 403 | 502 | 504; reason: string; message: string };

/** The one address a target resolves to, or undefined when the name does not resolve. */
async function resolveTargetIp(host: string): Promise<IpAddress | undefined> {
  try {
    return (await resolveHost(host)).ip;
  } catch {
    return undefined;
  }
}

/** Authorize `target` for this connection's groups, then dial it. Logs the attempt. */
export async function openTarget(
  ctx: FaceContext,
  spec: EndpointSpec,
  conn: ClientConnection,
  target: HostPort,
): Promise<TargetOutcome> {
  const sessionId = ctx.sessions.newId();
  const label = formatHostPort(target.host, target.port);
  const base = {
    session: sessionId,
    connectionId: conn.id,
    target: label,
    identity: conn.identity.commonName,
    commonName: conn.identity.commonName,
    serial: conn.identity.serial,
    startTime: new Date().toISOString(),
  };
  const ip = await resolveTargetIp(target.host);
  if (!ip) {
    const message = `target ${label} does not resolve`;
    logEvent(ctx, spec, conn.listener, conn, 'dial_failed', {
      ...base,
      status: 'failed',
      reason: 'GH_ERR_DIAL_FAILED',
      error: message,
    });
    return { ok: false, status: 502, reason: 'GH_ERR_DIAL_FAILED', message };
  }
  const decision = decideAuthorization(spec.authz, conn.identity.groups, ip, target.port);
  if (!decision.allowed) {
    logEvent(ctx, spec, conn.listener, conn, 'denied', {
      ...base,
      allowed: false,
      status: 'failed',
      reason: decision.reason,
      groups: conn.identity.groups,
      ...(decision.rule ? { rule: decision.rule.text, where: decision.rule.where } : {}),
    });
    return {
      ok: false,
      status: 403,
      reason: decision.reason,
      message: `${conn.identity.commonName} may not reach ${label}: ${describeAuthorization(decision)}`,
    };
  }
  try {
    const { socket } = await dial(
      { host: ip.toString(), port: target.port },
      {
        connectTimeout: spec.config.connectTimeout,
        guard: (addr, port) => decideEgress(ctx.policy, spec.config.securityGroups, addr, port),
      },
    );
    logEvent(ctx, spec, conn.listener, conn, 'accepted', {
      ...base,
      allowed: true,
      status: 'succeeded',
      reason: decision.reason,
      groups: conn.identity.groups,
      rule: decision.rule!.text,
      where: decision.rule!.where,
    });
    return { ok: true, upstream: socket, sessionId, target: label };
  } catch (err) {
    const denied =
      isGatehouseError(err) && err.code === 'GH_ERR_DENIED' ? (err as DialDenied).decision : undefined;
    const code = isGatehouseError(err) ? err.code : 'GH_ERR_DIAL_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    logEvent(ctx, spec, conn.listener, conn, denied ? 'denied' : 'dial_failed', {
      ...base,
      allowed: denied ? false : undefined,
      status: 'failed',
      reason: denied ? denied.reason : code,
      error: message,
      ...(denied?.rule ? { rule: denied.rule.text, where: denied.rule.where } : {}),
    });
    if (denied) return { ok: false, status: 403, reason: denied.reason, message };
    return { ok: false, status: code === 'GH_ERR_DIAL_TIMEOUT' ? 504 : 502, reason: code, message };
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
): Relay {
  const { upstream, sessionId: id, target } = opened;
  const r = relay(client, upstream, { idleTimeout: spec.config.idleTimeout, ...hooks });
  const startedAt = new Date();
  conn.relays.add(r);
  ctx.sessions.add({
    id,
    face: FACE,
    listener: conn.listener,
    source: conn.source,
    target,
    identity: conn.identity.commonName,
    serial: conn.identity.serial,
    startedAt,
    // The upstream socket counts both ways for every kind of client stream.
    get bytesFromClient() {
      return upstream.bytesWritten;
    },
    get bytesToClient() {
      return upstream.bytesRead;
    },
    close: (reason) => r.close(reason),
  });
  void r.done.then((result) => {
    conn.relays.delete(r);
    ctx.sessions.remove(id);
    const endTime = new Date();
    logEvent(ctx, spec, conn.listener, conn, 'closed', {
      session: id,
      connectionId: conn.id,
      target,
      identity: conn.identity.commonName,
      commonName: conn.identity.commonName,
      serial: conn.identity.serial,
      status: 'closed',
      reason: result.reason,
      startTime: startedAt.toISOString(),
      endTime: endTime.toISOString(),
      durationMs: result.durationMs,
      bytesFromClient: upstream.bytesWritten,
      bytesToClient: upstream.bytesRead,
      ...(result.error
        ? { error: (result.error as NodeJS.ErrnoException).code ?? result.error.message }
        : {}),
    });
  });
  return r;
}

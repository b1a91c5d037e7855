// A direct TLS listener: plain TLS clients (`redis-cli --tls --cert … --key … --cacert …`) reach the
// listener's one target. A refusal is told in the target's own protocol: a RESP `-ERR` line for
// Redis and Valkey, `SERVER_ERROR` for Memcached.
import type { TargetRef } from '../../config/schema.js';
import type { HostPort } from '../../net/address.js';
import { decisionFields } from '../../audit/record.js';
import type { Relay } from '../../pipeline/relay.js';
import { decideRedisUser, type RedisUserPolicy } from '../../policy/redis-users.js';
import type { FaceContext } from '../context.js';
import {
  logEvent,
  openTarget,
  startSession,
  type ClientConnection,
  type EndpointSpec,
} from './connection.js';
import { closeAfter, makeTlsFront, type AccessState, type TlsFront } from './handshake.js';
import { refusalMessage } from './identity.js';
import { redisLoginHooks, type RedisLogin } from './redis-login.js';
import { clusterRelayHooks } from '../cluster/cluster-relay.js';

export interface DirectSpec {
  readonly endpoint: EndpointSpec;
  readonly listener: string;
  readonly target: TargetRef;
  /** How refusals are written to the client. */
  readonly dialect: 'resp' | 'memcached';
  /** Set when the listener is a port range fronting a cluster: one public port per node. */
  readonly line?: string;
  /** `redisUsers`: who logs in as which Redis user; the password of a file as configured, now. */
  readonly redisUsers?: {
    readonly policy: RedisUserPolicy;
    password(passwordFile: string): string | undefined;
  };
}

function errorLine(dialect: DirectSpec['dialect'], message: string): string {
  const text = `gatehouse: ${message}`.replace(/[\r\n]+/g, ' ');
  return dialect === 'memcached' ? `SERVER_ERROR ${text}\r\n` : `-ERR ${text}\r\n`;
}

function resolveTarget(
  spec: DirectSpec,
  ctx: FaceContext,
  localPort: number | undefined,
): HostPort | undefined {
  const target = spec.target;
  if (target.kind === 'address') return target.address;
  if (spec.line && localPort !== undefined) return ctx.nodePorts.nodeFor(spec.line, localPort);
  return ctx.clusterNode(target.cluster, 0);
}

/**
 * The Redis user of this client on a listener with `redisUsers`: undefined when it has none (the
 * client is refused here, audited with reason `no_redis_user`); null when the listener has no
 * `redisUsers`.
 */
function redisLoginFor(
  spec: DirectSpec,
  ctx: FaceContext,
  conn: ClientConnection,
): RedisLogin | null | undefined {
  const redis = spec.redisUsers;
  if (!redis) return null;
  const decision = decideRedisUser(redis.policy, conn.identity);
  if (decision.allowed) {
    const file = decision.passwordFile!;
    return { user: decision.user!, password: () => redis.password(file) };
  }
  const { commonName, serial, groups } = conn.identity;
  logEvent(ctx, spec.endpoint, conn.listener, conn, 'denied', {
    session: ctx.sessions.newId(),
    connectionId: conn.id,
    identity: commonName,
    commonName,
    serial,
    groups,
    ...decisionFields(decision),
    status: 'failed',
    startTime: new Date().toISOString(),
  });
  const text = `${commonName} has no Redis user on this listener (no redisUsers entry matches groups ${groups.join(', ') || '(none)'})`;
  closeAfter(conn.socket, `-NOPERM gatehouse: ${text.replace(/[\r\n]+/g, ' ')}\r\n`);
  return undefined;
}

export function makeDirect(spec: DirectSpec, ctx: FaceContext, state: AccessState): TlsFront {
  return makeTlsFront(ctx, spec.endpoint, spec.listener, state, undefined, (accepted) => {
    if (!accepted.ok) {
      closeAfter(accepted.socket, errorLine(spec.dialect, refusalMessage(accepted.reason)));
      return;
    }
    const { conn } = accepted;
    const login = redisLoginFor(spec, ctx, conn);
    if (login === undefined) return;
    const target = resolveTarget(spec, ctx, conn.socket.localPort);
    if (!target) {
      closeAfter(conn.socket, errorLine(spec.dialect, 'the target cluster has no node'));
      return;
    }
    // Bytes the client sends before the dial settles wait in the socket's buffer: nothing reads
    // it until the relay listens. Not pause(): a TLS socket paused here and resumed later never
    // reported a FIN that came in between, and its target connection stayed open for good.
    const extra = login ? { redisUser: login.user } : {};
    void openTarget(ctx, spec.endpoint, conn, target, extra).then((opened) => {
      if (!opened.ok) {
        closeAfter(
          conn.socket,
          errorLine(spec.dialect, `${opened.refusal.status} ${opened.refusal.message}`),
        );
        return;
      }
      if (conn.socket.destroyed) {
        opened.upstream.destroy();
        return;
      }
      // A cluster behind a port range: node addresses in replies become this gateway's ports.
      const hooks =
        spec.line && spec.target.kind === 'cluster'
          ? clusterRelayHooks(
              {
                line: spec.line,
                cluster: spec.target.cluster,
                publicAddress: undefined,
                socket: conn.socket,
              },
              ctx,
            )
          : {};
      // Redis users: Gatehouse logs in to the node first; the client cannot log in as another user.
      const gated = login
        ? redisLoginHooks(login, { client: conn.socket, target: opened.upstream }, hooks, {
            log: ctx.log,
            node: opened.target,
            session: opened.sessionId,
            // Called from relay callbacks only, after startSession has returned.
            relay: () => relay,
          })
        : hooks;
      const relay: Relay = startSession(ctx, spec.endpoint, conn, opened, conn.socket, gated, extra);
    });
  });
}

// A direct listener's Redis users on one session: the client's identity picks the Redis user
// (policy/redis-users.ts), and the gate (protocols/resp-user-gate.ts) logs in to the node as that
// user before the client's first byte and keeps the client from logging in as anyone else. This
// file is the socket side: it composes the gate with the cluster rewriter's hooks (the rewriter
// sees every node reply and every byte sent to the node, the gate sees replies after it), writes
// what the gate sends out of turn (its login and the client bytes held until the login
// succeeded, to the node), and closes the session when the gate fails.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { GatehouseError } from '../../errors.js';
import type { Relay, RelayOptions } from '../../pipeline/relay.js';
import { createRedisUserGate, type GateFailure } from '../../protocols/resp-user-gate.js';

type Hooks = Pick<RelayOptions, 'transformToClient' | 'transformToTarget' | 'flushToClient'>;

export interface RedisLogin {
  readonly user: string;
  /** The password in force now (undefined: its file never loaded). */
  password(): string | undefined;
}

const join = (pieces: readonly Buffer[]): Buffer =>
  pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);

/** What the client reads before the connection closes, in RESP. */
function lastWords(f: GateFailure, user: string): string {
  switch (f.kind) {
    case 'login_refused':
      return `-ERR gatehouse: cannot log in to Redis as ${user} (${f.serverError}); the gateway's operator must fix the password file of this listener's redisUsers\r\n`;
    case 'no_password':
      return `-ERR gatehouse: the password of Redis user ${user} is not loaded; the gateway's operator must fix its password file\r\n`;
    case 'client_protocol':
      return `-ERR Protocol error: ${f.message}\r\n`;
    case 'server_protocol':
      return `-ERR gatehouse: the node sent a malformed reply (${f.message})\r\n`;
    case 'too_much_before_login':
      return '-ERR gatehouse: too many bytes sent before the Redis login completed\r\n';
  }
}

/**
 * Hooks for one session. `relay()` gives the session's relay once it exists (the hooks are made
 * before it); `node` names the node in the log.
 */
export function redisLoginHooks(
  login: RedisLogin,
  sockets: { client: Duplex; target: Socket },
  inner: Hooks,
  ctx: { log: Logger; node: string; session: string; relay: () => Relay | undefined },
): Hooks {
  const gate = createRedisUserGate({ user: login.user, password: () => login.password() });
  const { client, target } = sockets;
  const toNode = (bytes: Buffer): Buffer | null => {
    if (bytes.length === 0) return null;
    return inner.transformToTarget ? inner.transformToTarget(bytes) : bytes;
  };
  let failed = false;
  const failWith = (f: GateFailure) => {
    if (failed) return;
    failed = true;
    const loginFailed = f.kind === 'login_refused' || f.kind === 'no_password';
    if (loginFailed) {
      const err = new GatehouseError('GH_ERR_REDIS_LOGIN', [
        ctx.node,
        login.user,
        f.kind === 'login_refused' ? f.serverError : 'its password file never loaded',
      ]);
      ctx.log.error({ code: err.code, hint: err.hint, session: ctx.session, user: login.user }, err.message);
    } else {
      ctx.log.warn(
        { session: ctx.session, user: login.user, reason: f.kind },
        lastWords(f, login.user).trim(),
      );
    }
    const reason = loginFailed
      ? 'redis_login_failed'
      : f.kind === 'server_protocol'
        ? 'target_error'
        : 'client_error';
    // The reason reaches the client before the session is torn down.
    client.end(lastWords(f, login.user), () => ctx.relay()?.close(reason));
    setTimeout(() => ctx.relay()?.close(reason), 2000).unref();
  };
  return {
    transformToTarget(chunk) {
      const step = gate.fromClient(chunk);
      if (step.failure) {
        failWith(step.failure);
        return null;
      }
      if (step.toClient.length > 0) client.write(join(step.toClient));
      return step.toTarget.length === 0 ? null : toNode(join(step.toTarget));
    },
    transformToClient(chunk) {
      const seen = inner.transformToClient ? inner.transformToClient(chunk) : chunk;
      if (seen === null || seen.length === 0) return seen;
      const step = gate.fromTarget(seen);
      if (step.failure) {
        failWith(step.failure);
        return null;
      }
      // The login succeeded: the client bytes that waited for it go to the node now.
      if (step.toTarget.length > 0) {
        const held = toNode(join(step.toTarget));
        if (held) target.write(held);
      }
      return step.toClient.length === 0 ? null : join(step.toClient);
    },
    flushToClient() {
      const rest = inner.flushToClient?.();
      const step = rest && rest.length > 0 ? gate.fromTarget(rest) : undefined;
      return Buffer.concat([...(step?.toClient ?? []), gate.end()]);
    },
  };
}

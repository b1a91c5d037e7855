// A direct TLS listener: plain TLS clients (`redis-cli --tls --cert … --key … --cacert …`) reach the
// listener's one target. A refusal is told in the target's own protocol: a RESP `-ERR` line for
// Redis and Valkey, `SERVER_ERROR` for Memcached.
import type { TargetRef } from '../../config/schema.js';
import type { HostPort } from '../../net/address.js';
import type { FaceContext } from '../context.js';
import { openTarget, startSession, type EndpointSpec } from './connection.js';
import { closeAfter, makeTlsFront, type AccessState, type TlsFront } from './handshake.js';
import { refusalMessage } from './identity.js';
import { clusterRelayHooks } from '../cluster/cluster-relay.js';

export interface DirectSpec {
  readonly endpoint: EndpointSpec;
  readonly listener: string;
  readonly target: TargetRef;
  /** How refusals are written to the client. */
  readonly dialect: 'resp' | 'memcached';
  /** Set when the listener is a port range fronting a cluster: one public port per node. */
  readonly line?: string;
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

export function makeDirect(spec: DirectSpec, ctx: FaceContext, state: AccessState): TlsFront {
  return makeTlsFront(ctx, spec.endpoint, spec.listener, state, undefined, (accepted) => {
    if (!accepted.ok) {
      closeAfter(accepted.socket, errorLine(spec.dialect, refusalMessage(accepted.reason)));
      return;
    }
    const { conn } = accepted;
    const target = resolveTarget(spec, ctx, conn.socket.localPort);
    if (!target) {
      closeAfter(conn.socket, errorLine(spec.dialect, 'the target cluster has no node'));
      return;
    }
    // Bytes the client sends before the dial settles wait in the socket's buffer: nothing reads
    // it until the relay listens. Not pause(): a TLS socket paused here and resumed later never
    // reported a FIN that came in between, and its target connection stayed open for good.
    void openTarget(ctx, spec.endpoint, conn, target, true).then((opened) => {
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
      startSession(ctx, spec.endpoint, conn, opened, conn.socket, hooks);
    });
  });
}

// One connection of a port forward (the NAT instance's DNAT rule, done in the open): admit by
// security group, anonymous identity, the fixed target of the port (or the node behind it), dial,
// raw or cluster-aware relay as a session, audit.
import type { Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../../net/address.js';
import { dial, dialFailure } from '../../pipeline/dial.js';
import { admitOrRefuse, peerLabel, viaOf } from '../../pipeline/admit.js';
import { runRelay } from '../../pipeline/session-runner.js';
import { admittedFields, closedFields, decisionFields } from '../../audit/record.js';
import type { ForwardPlanEntry } from '../../policy/forward-plan.js';
import { decideEgress } from '../../policy/security-groups.js';
import type { FaceContext } from '../context.js';
import { clusterRelayHooks } from '../cluster/cluster-relay.js';

export const FACE = 'portForward';

/** One shared no-op listener, not a closure per connection. */
function ignoreError(): void {}

function resolveTarget(entry: ForwardPlanEntry, ctx: FaceContext): HostPort | undefined {
  if (entry.target.kind === 'address') return entry.target.address;
  return ctx.nodePorts.nodeFor(entry.line, entry.bind.port);
}

export function handlePortForward(socket: Socket, entry: ForwardPlanEntry, ctx: FaceContext): void {
  const listener = `${entry.name}@${formatHostPort(entry.bind.host, entry.bind.port)}`;
  const source = peerLabel(socket);
  const admission = admitOrRefuse(ctx, { face: FACE, listener, groups: entry.groups }, socket, source);
  if (!admission) return;
  const target = resolveTarget(entry, ctx);
  const id = ctx.sessions.newId();
  const targetLabel = target
    ? formatHostPort(target.host, target.port)
    : `cluster:${String(entry.target.kind === 'cluster' && entry.target.cluster)}`;
  const site = { session: id, face: FACE, listener, source, ...viaOf(socket), target: targetLabel };
  // connectionLog: summary writes one line per session (closed, or dial_failed) that also carries
  // the admission; full writes accepted, dialed and closed. Refusals are `denied` either way.
  const summary = entry.connectionLog === 'summary';
  const admitted = summary ? admittedFields(admission) : undefined;
  if (!summary) ctx.audit.emit({ event: 'accepted', ...site, ...decisionFields(admission) });
  if (!target) {
    socket.destroy();
    ctx.sessions.outcomes.dialFailed(FACE, listener, 'no_cluster_node');
    ctx.audit.emit({ event: 'dial_failed', ...site, ...admitted, reason: 'no_cluster_node' });
    return;
  }
  // Until the dial settles the client socket stays paused: bytes it sends wait in its buffer.
  socket.pause();
  socket.on('error', ignoreError); // an error before the relay owns the socket ends in 'close'
  dial(target, {
    connectTimeout: entry.connectTimeout,
    guard: (ip, port) => decideEgress(ctx.policy, entry.groups, ip, port),
  }).then(
    ({ socket: upstream }) => {
      // A client gone while its target was dialed: the relay would see it closed and end at once,
      // but there is no session to show for it.
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      if (!summary) ctx.audit.emit({ event: 'dialed', ...site });
      const clusterLine = entry.target.kind === 'cluster';
      const hooks =
        entry.target.kind === 'cluster'
          ? clusterRelayHooks(
              { line: entry.line, cluster: entry.target.cluster, publicAddress: entry.publicAddress, socket },
              ctx,
            )
          : {};
      if (clusterLine) ctx.nodePorts.sessionStarted(entry.line, entry.bind.port);
      runRelay(
        ctx.sessions,
        { id, face: FACE, listener, source, target: targetLabel, identity: undefined },
        socket,
        upstream,
        { idleTimeout: entry.idleTimeout, timers: ctx.timers, ...hooks },
        (result) => {
          if (clusterLine) ctx.nodePorts.sessionEnded(entry.line, entry.bind.port);
          ctx.audit.emit({ event: 'closed', ...site, ...admitted, ...closedFields(result) });
        },
      );
      socket.resume();
    },
    (err: unknown) => {
      socket.destroy();
      ctx.sessions.outcomes.dialRefused(FACE, listener, err);
      ctx.audit.emit({ ...site, ...admitted, ...dialFailure(err) });
    },
  );
}

// The port forward face (the NAT instance's DNAT rules, done in the open): admit by security group,
// anonymous identity, fixed target per port, raw relay, audit.
import type { Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../../net/address.js';
import { dial, dialFailure } from '../../pipeline/dial.js';
import { LiveSession } from '../../pipeline/session-registry.js';
import { admitOrRefuse, peerLabel } from '../../pipeline/admit.js';
import { relay } from '../../pipeline/relay.js';
import { decisionFields, errorText } from '../../audit/record.js';
import { planPortForwards, type ForwardPlanEntry } from '../../policy/forward-plan.js';
import { decideEgress } from '../../policy/security-groups.js';
import type { FaceContext } from '../context.js';
import type { Face, Snapshot } from '../face.js';
import { KernelDataPath } from './kernel-data-path.js';
import { ClusterPorts, forwardLines } from '../cluster/node-ports.js';
import { clusterRelayHooks } from '../cluster/cluster-relay.js';

const FACE = 'portForward';

function resolveTarget(entry: ForwardPlanEntry, ports: ClusterPorts): HostPort | undefined {
  if (entry.target.kind === 'address') return entry.target.address;
  return ports.nodeFor(entry.line, entry.bind.port);
}

export function handlePortForward(
  socket: Socket,
  entry: ForwardPlanEntry,
  ctx: FaceContext,
  ports: ClusterPorts,
): void {
  const listener = `${entry.name}@${formatHostPort(entry.bind.host, entry.bind.port)}`;
  const source = peerLabel(socket);
  const admission = admitOrRefuse(ctx, { face: FACE, listener, groups: entry.groups }, socket, source);
  if (!admission) return;
  const target = resolveTarget(entry, ports);
  const id = ctx.sessions.newId();
  const targetLabel = target
    ? formatHostPort(target.host, target.port)
    : `cluster:${String(entry.target.kind === 'cluster' && entry.target.cluster)}`;
  ctx.audit.emit({
    event: 'accepted',
    session: id,
    face: FACE,
    listener,
    source,
    target: targetLabel,
    ...decisionFields(admission),
  });
  if (!target) {
    socket.destroy();
    ctx.audit.emit({
      event: 'dial_failed',
      session: id,
      face: FACE,
      listener,
      source,
      target: targetLabel,
      reason: 'no_cluster_node',
    });
    return;
  }
  // Until the dial settles the client socket stays paused: bytes it sends wait in its buffer.
  socket.pause();
  const onEarlyClose = () => pending.abort();
  const pending = new AbortController();
  socket.once('close', onEarlyClose);
  socket.on('error', () => {}); // an error before the relay owns the socket ends in 'close' above
  dial(target, {
    connectTimeout: entry.connectTimeout,
    guard: (ip, port) => decideEgress(ctx.policy, entry.groups, ip, port),
  }).then(
    ({ socket: upstream }) => {
      socket.removeListener('close', onEarlyClose);
      if (pending.signal.aborted || socket.destroyed) {
        upstream.destroy();
        return;
      }
      ctx.audit.emit({ event: 'dialed', session: id, face: FACE, listener, source, target: targetLabel });
      const r = relay(socket, upstream, {
        idleTimeout: entry.idleTimeout,
        ...(entry.target.kind === 'cluster'
          ? clusterRelayHooks(
              { line: entry.line, cluster: entry.target.cluster, publicAddress: entry.publicAddress, socket },
              ctx,
              ports,
            )
          : {}),
      });
      const clusterLine = entry.target.kind === 'cluster';
      if (clusterLine) ports.sessionStarted(entry.bind.port);
      socket.resume();
      ctx.sessions.add(
        new LiveSession(id, FACE, listener, source, targetLabel, undefined, Date.now(), r, (reason) =>
          r.close(reason),
        ),
      );
      void r.done.then((result) => {
        ctx.sessions.remove(id);
        if (clusterLine) ports.sessionEnded(entry.bind.port);
        ctx.audit.emit({
          event: 'closed',
          session: id,
          face: FACE,
          listener,
          source,
          target: targetLabel,
          reason: result.reason,
          bytesFromClient: result.bytesFromClient,
          bytesToClient: result.bytesToClient,
          durationMs: result.durationMs,
          ...(result.error ? { error: errorText(result.error) } : {}),
        });
      });
    },
    (err: unknown) => {
      socket.removeListener('close', onEarlyClose);
      socket.destroy();
      ctx.audit.emit({
        session: id,
        face: FACE,
        listener,
        source,
        target: targetLabel,
        ...dialFailure(err),
      });
    },
  );
}

/** Port forwards: the userspace relay on every planned port, per-node ports for cluster lines
 * kept in sync with topology, and where a group asks for it, the kernel data path in front. */
export function createPortForwardFace(): Face {
  const kernel = new KernelDataPath();
  let kernelInUse = false;
  let ports: ClusterPorts | undefined;
  let unsubscribe: (() => void) | undefined;
  let current: { snapshot: Snapshot; ctx: FaceContext } | undefined;

  const applyKernel = async () => {
    if (!current) return;
    const { snapshot, ctx } = current;
    const entries = planPortForwards(snapshot.loaded.config, snapshot.loaded.source).filter(
      (e) => e.dataPath === 'kernel',
    );
    if (entries.length === 0 && !kernelInUse) return;
    kernelInUse = entries.length > 0;
    await kernel.apply(snapshot, entries, ctx, (e) => ports?.nodeFor(e.line, e.bind.port));
  };

  return {
    name: FACE,
    routes(snapshot) {
      return planPortForwards(snapshot.loaded.config, snapshot.loaded.source).map((entry) => ({
        bind: entry.bind,
        handle: (socket, ctx) => handlePortForward(socket, entry, ctx, ports!),
      }));
    },
    async applied(snapshot, ctx) {
      ports ??= new ClusterPorts(ctx.log);
      current = { snapshot, ctx };
      ports.setLines(
        forwardLines(planPortForwards(snapshot.loaded.config, snapshot.loaded.source)),
        ctx.clusters,
      );
      unsubscribe?.();
      unsubscribe = ctx.clusters.onChange((cluster) => {
        if (ports?.topologyChanged(cluster, ctx.clusters) && kernelInUse) void applyKernel();
      });
      await applyKernel();
    },
    async shutdown() {
      unsubscribe?.();
      await kernel.shutdown();
    },
  };
}

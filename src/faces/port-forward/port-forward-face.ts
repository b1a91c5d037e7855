// The port forward face: the userspace relay on every planned port, per-node ports for cluster
// lines kept in sync with topology, and where a forward asks for it, the kernel data path in front.
// The plan (policy/forward-plan.ts) is made once per snapshot; routes, cluster lines and the
// kernel rules all read it.
import { planPortForwards, type ForwardPlanEntry } from '../../policy/forward-plan.js';
import type { FaceContext } from '../context.js';
import type { Face, FacePlan, Snapshot } from '../face.js';
import { ClusterPorts, forwardLines, type ClusterLine } from '../cluster/node-ports.js';
import { FACE, handlePortForward } from './connection.js';
import { KernelDataPath } from './kernel-data-path.js';

interface PortForwardPlan extends FacePlan {
  readonly lines: readonly ClusterLine[];
  /** The entries the kernel data path carries. */
  readonly kernel: readonly ForwardPlanEntry[];
}

export function createPortForwardFace(): Face<PortForwardPlan> {
  const kernel = new KernelDataPath();
  let kernelInUse = false;
  const ports = new ClusterPorts();
  let unsubscribe: (() => void) | undefined;
  let current: { plan: PortForwardPlan; snapshot: Snapshot; ctx: FaceContext } | undefined;

  const applyKernel = async () => {
    if (!current) return;
    const { plan, snapshot, ctx } = current;
    if (plan.kernel.length === 0 && !kernelInUse) return;
    kernelInUse = plan.kernel.length > 0;
    await kernel.apply(snapshot, plan.kernel, ctx, (e) => ports.nodeFor(e.line, e.bind.port));
  };

  return {
    name: FACE,
    plan(snapshot) {
      const entries = planPortForwards(snapshot.loaded.config, snapshot.loaded.source);
      return {
        routes: entries.map((entry) => ({
          bind: entry.bind,
          handle: (socket, ctx) => handlePortForward(socket, entry, ctx, ports),
        })),
        lines: forwardLines(entries),
        kernel: entries.filter((e) => e.dataPath === 'kernel'),
      };
    },
    async applied(plan, snapshot, ctx) {
      current = { plan, snapshot, ctx };
      ports.setLines(plan.lines, ctx.clusters, ctx.log);
      unsubscribe?.();
      unsubscribe = ctx.clusters.onChange((cluster) => {
        if (ports.topologyChanged(cluster, ctx.clusters) && kernelInUse) void applyKernel();
      });
      await applyKernel();
    },
    async shutdown() {
      unsubscribe?.();
      await kernel.shutdown();
    },
  };
}

// Which runs of public ports front a cluster, one public port per node: the cluster forward lines
// of port forwards and the port-range direct listeners of access endpoints. Pure, from the config
// and the forward plan: the process that keeps the node ⇄ port maps (the host, or the primary of
// several workers) and the faces that read them derive the same lines from the same snapshot.
import type { Config } from '../config/schema.js';
import type { ForwardPlanEntry } from './forward-plan.js';

/** A run of public ports that fronts one cluster: a forward line, or a direct listener range. */
export interface ClusterLine {
  readonly key: string;
  readonly cluster: string;
  readonly range: readonly [number, number];
}

/** The key of an access endpoint's direct listener line (port forward lines use their plan's `line`). */
export function directLineKey(endpoint: string, index: number): string {
  return `${endpoint}/direct/${index}`;
}

/** The cluster lines of a port-forward plan (one per forward line, not per port). */
export function forwardLines(entries: readonly ForwardPlanEntry[]): ClusterLine[] {
  const lines = new Map<string, ClusterLine>();
  for (const e of entries) {
    if (e.target.kind === 'cluster' && !lines.has(e.line))
      lines.set(e.line, { key: e.line, cluster: e.target.cluster, range: e.lineRange });
  }
  return [...lines.values()];
}

/** Direct listeners that front a cluster with a port range (one port alone dials the first node). */
export function accessDirectLines(config: Config): ClusterLine[] {
  const out: ClusterLine[] = [];
  for (const [name, ep] of Object.entries(config.accessEndpoints))
    ep.directListeners.forEach((d, i) => {
      if (d.target.kind === 'cluster' && d.listen.lastPort > d.listen.port)
        out.push({
          key: directLineKey(name, i),
          cluster: d.target.cluster,
          range: [d.listen.port, d.listen.lastPort],
        });
    });
  return out;
}

/** Every cluster line of a config: the port forwards' and the access endpoints'. */
export function clusterLines(config: Config, forwardPlan: readonly ForwardPlanEntry[]): ClusterLine[] {
  return [...forwardLines(forwardPlan), ...accessDirectLines(config)];
}

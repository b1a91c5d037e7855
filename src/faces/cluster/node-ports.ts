// The live node ⇄ public port map of every cluster forward line, kept in sync with topology.
// A node keeps its port while it exists; a new or replacing node gets a free one; a removed
// node's port is retired only once the sessions on it have drained.
import type { Logger } from 'pino';
import { assignPorts, EMPTY_ASSIGNMENT, type PortAssignment } from '../../cluster/port-assignment.js';
import type { ClusterRegistry } from '../../cluster/registry.js';
import type { ClusterNode } from '../../cluster/topology.js';
import type { ForwardPlanEntry } from '../../policy/forward-plan.js';

/** A run of public ports that fronts one cluster: a forward line, or a direct listener range. */
export interface ClusterLine {
  readonly key: string;
  readonly cluster: string;
  readonly range: readonly [number, number];
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

interface Line {
  readonly cluster: string;
  readonly range: readonly [number, number];
  assignment: PortAssignment;
  /** Bumped on every change: the config version auto-discovery clients compare. */
  version: number;
}

export class ClusterPorts {
  private lines = new Map<string, Line>();
  private readonly sessionsOnPort = new Map<number, number>();

  /** Set by setLines: connections may look ports up before the first snapshot is applied. */
  private log: Logger | undefined;

  /** Take a new set of lines, keeping the assignments of lines that did not change. */
  setLines(lines: readonly ClusterLine[], clusters: ClusterRegistry, log: Logger): void {
    this.log = log;
    const next = new Map<string, Line>();
    for (const l of lines) {
      const old = this.lines.get(l.key);
      const same =
        old && old.cluster === l.cluster && old.range[0] === l.range[0] && old.range[1] === l.range[1];
      next.set(l.key, {
        cluster: l.cluster,
        range: l.range,
        assignment: same ? old.assignment : EMPTY_ASSIGNMENT,
        version: old?.version ?? 0,
      });
    }
    this.lines = next;
    for (const [key, line] of this.lines) this.update(key, line, clusters);
  }

  /** Recompute the lines of `cluster` after its topology changed. Returns whether any map changed. */
  topologyChanged(cluster: string, clusters: ClusterRegistry): boolean {
    let changed = false;
    for (const [key, line] of this.lines)
      if (line.cluster === cluster) changed = this.update(key, line, clusters) || changed;
    return changed;
  }

  private update(key: string, line: Line, clusters: ClusterRegistry): boolean {
    const topology = clusters.topology(line.cluster);
    if (!topology) return false;
    const prev = line.assignment;
    const draining = new Set<number>();
    const ids = new Set(topology.nodes.map((n) => n.id));
    for (const [port, node] of prev.byPort) {
      if (!ids.has(node.id) && (this.sessionsOnPort.get(port) ?? 0) > 0) draining.add(port);
    }
    line.assignment = assignPorts(prev, topology.nodes, line.range, draining);
    let changed = false;
    for (const [id, port] of line.assignment.byNode) {
      if (prev.byNode.get(id) !== port) {
        changed = true;
        const n = line.assignment.byPort.get(port)!;
        this.log?.info(
          { line: key, node: `${n.host}:${n.port}`, id, port },
          'cluster node gets a public port',
        );
      }
    }
    for (const [id, port] of prev.byNode) {
      if (!line.assignment.byNode.has(id)) {
        changed = true;
        this.log?.info(
          { line: key, id, port, draining: draining.has(port) },
          'cluster node gone; its public port is retired',
        );
      }
    }
    if (changed) line.version++;
    for (const id of line.assignment.unplaced)
      this.log?.warn({ line: key, id }, 'no free public port for a cluster node; widen the listen range');
    return changed;
  }

  /** The node behind a public port of a line now. */
  nodeFor(line: string, publicPort: number): ClusterNode | undefined {
    return this.lines.get(line)?.assignment.byPort.get(publicPort);
  }

  /** The public port of the node at host:port on the same line, for rewriting replies. */
  publicPortOf(line: string, host: string, port: number): number | undefined {
    const a = this.lines.get(line)?.assignment;
    if (!a) return undefined;
    // A lone node that has met no other reports its own ip as empty: match it by port.
    for (const [p, n] of a.byPort) if (n.port === port && (n.host === host || host === '')) return p;
    return undefined;
  }

  /** Every public port of the line and its config version, for auto-discovery answers. */
  publicPorts(key: string): { ports: number[]; version: number } {
    const line = this.lines.get(key);
    return {
      ports: line ? [...line.assignment.byPort.keys()].sort((a, b) => a - b) : [],
      version: line?.version ?? 0,
    };
  }

  sessionStarted(port: number): void {
    this.sessionsOnPort.set(port, (this.sessionsOnPort.get(port) ?? 0) + 1);
  }

  sessionEnded(port: number): void {
    const n = (this.sessionsOnPort.get(port) ?? 1) - 1;
    if (n <= 0) this.sessionsOnPort.delete(port);
    else this.sessionsOnPort.set(port, n);
  }
}

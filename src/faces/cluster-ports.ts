// The live node ⇄ public port map of every cluster forward line, kept in sync with topology.
// A node keeps its port while it exists; a new or replacing node gets a free one; a removed
// node's port is retired only once the sessions on it have drained.
import type { Logger } from 'pino';
import { assignPorts, EMPTY_ASSIGNMENT, type PortAssignment } from '../cluster/port-map.js';
import type { ClusterRegistry } from '../cluster/registry.js';
import type { ClusterNode } from '../cluster/topology.js';
import type { ForwardPlanEntry } from '../policy/forward-plan.js';

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

  constructor(private readonly log: Logger) {}

  /** Take the cluster lines of a new plan, keeping assignments of lines that did not change. */
  setPlan(entries: readonly ForwardPlanEntry[], clusters: ClusterRegistry): void {
    const next = new Map<string, Line>();
    for (const e of entries) {
      if (e.target.kind !== 'cluster' || next.has(e.line)) continue;
      const old = this.lines.get(e.line);
      const same =
        old &&
        old.cluster === e.target.cluster &&
        old.range[0] === e.lineRange[0] &&
        old.range[1] === e.lineRange[1];
      next.set(e.line, {
        cluster: e.target.cluster,
        range: e.lineRange,
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
        this.log.info(
          { line: key, node: `${n.host}:${n.port}`, id, port },
          'cluster node gets a public port',
        );
      }
    }
    for (const [id, port] of prev.byNode) {
      if (!line.assignment.byNode.has(id)) {
        changed = true;
        this.log.info(
          { line: key, id, port, draining: draining.has(port) },
          'cluster node gone; its public port is retired',
        );
      }
    }
    if (changed) line.version++;
    for (const id of line.assignment.unplaced)
      this.log.warn({ line: key, id }, 'no free public port for a cluster node; widen the listen range');
    return changed;
  }

  /** The node behind a public port now. */
  nodeFor(entry: ForwardPlanEntry): ClusterNode | undefined {
    return this.lines.get(entry.line)?.assignment.byPort.get(entry.bind.port);
  }

  /** The public port of the node at host:port on the same line, for rewriting replies. */
  publicPortOf(entry: ForwardPlanEntry, host: string, port: number): number | undefined {
    const a = this.lines.get(entry.line)?.assignment;
    if (!a) return undefined;
    // A lone node that has met no other reports its own ip as empty: match it by port.
    for (const [p, n] of a.byPort) if (n.port === port && (n.host === host || host === '')) return p;
    return undefined;
  }

  /** Every public port of the line and its config version, for auto-discovery answers. */
  publicPorts(entry: ForwardPlanEntry): { ports: number[]; version: number } {
    const line = this.lines.get(entry.line);
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

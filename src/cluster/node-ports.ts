// The live node ⇄ public port maps of every cluster line (port forward lines and access endpoints'
// direct listener ranges), kept in sync with topology. A node keeps its port while it exists; a new
// or replacing node gets a free one; a removed node's port is retired only once the sessions on it
// have drained. One process computes the maps (the host; the primary when there are workers), so
// every worker sends a node to the same public port; workers hold read-only replicas.
import type { Logger } from 'pino';
import type { ClusterLine } from '../policy/cluster-lines.js';
import { assignPorts, EMPTY_ASSIGNMENT, type PortAssignment } from './port-assignment.js';
import type { Topologies } from './registry.js';
import type { ClusterNode } from './topology.js';

/** What a face reads of the maps, and the session counts that keep a removed node's port held. */
export interface NodePortMap {
  /** The node behind a public port of a line now. */
  nodeFor(line: string, publicPort: number): ClusterNode | undefined;
  /** The public port of the node at host:port on the same line, for rewriting replies. */
  publicPortOf(line: string, host: string, port: number): number | undefined;
  /** Every public port of the line and its config version, for auto-discovery answers. */
  publicPorts(line: string): { ports: number[]; version: number };
  sessionStarted(line: string, port: number): void;
  sessionEnded(line: string, port: number): void;
}

/** One line's map as it crosses a process boundary (to a worker). */
export interface LineAssignment {
  readonly key: string;
  readonly version: number;
  /** public port → node */
  readonly ports: readonly (readonly [number, ClusterNode])[];
}

/** Session counts keyed by line and port: "line|port". */
export function portKey(line: string, port: number): string {
  return `${line}|${port}`;
}

/** A read-only map of lines, as the computing side last sent them. */
export class NodePortTable {
  protected byLine = new Map<string, { byPort: ReadonlyMap<number, ClusterNode>; version: number }>();
  protected readonly sessionsOnPort = new Map<string, number>();

  nodeFor(line: string, publicPort: number): ClusterNode | undefined {
    return this.byLine.get(line)?.byPort.get(publicPort);
  }

  publicPortOf(line: string, host: string, port: number): number | undefined {
    const a = this.byLine.get(line);
    if (!a) return undefined;
    // A lone node that has met no other reports its own ip as empty: match it by port.
    for (const [p, n] of a.byPort) if (n.port === port && (n.host === host || host === '')) return p;
    return undefined;
  }

  publicPorts(line: string): { ports: number[]; version: number } {
    const a = this.byLine.get(line);
    return {
      ports: a ? [...a.byPort.keys()].sort((x, y) => x - y) : [],
      version: a?.version ?? 0,
    };
  }

  sessionStarted(line: string, port: number): void {
    const k = portKey(line, port);
    this.sessionsOnPort.set(k, (this.sessionsOnPort.get(k) ?? 0) + 1);
  }

  sessionEnded(line: string, port: number): void {
    const k = portKey(line, port);
    const n = (this.sessionsOnPort.get(k) ?? 1) - 1;
    if (n <= 0) this.sessionsOnPort.delete(k);
    else this.sessionsOnPort.set(k, n);
  }

  /** This process's sessions per line|port (what a worker reports to the primary). */
  sessionCounts(): ReadonlyMap<string, number> {
    return this.sessionsOnPort;
  }

  /** Take the maps another process computed (a worker's replica). */
  load(assignments: readonly LineAssignment[]): void {
    this.byLine = new Map(assignments.map((a) => [a.key, { byPort: new Map(a.ports), version: a.version }]));
  }
}

interface Line {
  readonly cluster: string;
  readonly range: readonly [number, number];
  assignment: PortAssignment;
  /** Bumped on every change: the config version auto-discovery clients compare. */
  version: number;
}

/**
 * Port maps shared with other hosts (a fleet's table): what they already gave each node, which
 * this host adopts, and where it claims the ports it gives new nodes. First claim wins.
 */
export interface SharedPortMaps {
  /** node id → port, as the shared table has it for `line` (undefined: nothing known yet). */
  known(line: string): ReadonlyMap<string, number> | undefined;
  /** This host's assignment of `line`, for the table (claims what is not claimed yet). */
  claim(line: string, byNode: ReadonlyMap<string, number>): void;
}

/**
 * `prev` with what the shared table says for the nodes of the topology: a node's shared port
 * replaces its own, and a node that held that port here loses it (it is given a free one). Nodes
 * gone from the topology keep their entries (they may be draining).
 */
function adoptShared(
  prev: PortAssignment,
  shared: ReadonlyMap<string, number>,
  nodes: readonly ClusterNode[],
  range: readonly [number, number],
): PortAssignment {
  const byNode = new Map(prev.byNode);
  const byPort = new Map(prev.byPort);
  for (const n of nodes) {
    const port = shared.get(n.id);
    if (port === undefined || port < range[0] || port > range[1] || byNode.get(n.id) === port) continue;
    const holder = byPort.get(port);
    if (holder) byNode.delete(holder.id);
    const own = byNode.get(n.id);
    if (own !== undefined) byPort.delete(own);
    byNode.set(n.id, port);
    byPort.set(port, n);
  }
  return { byNode, byPort, unplaced: prev.unplaced };
}

/** The computing side: assigns ports from topology (the host, or the primary of workers). */
export class ClusterPorts extends NodePortTable implements NodePortMap {
  private shared: SharedPortMaps | undefined;
  private lastTopologies: Topologies | undefined;

  /** Adopt and claim through a table other hosts share (a fleet). */
  shareWith(shared: SharedPortMaps): void {
    this.shared = shared;
  }

  /** The shared table changed: recompute every line with what it says now. Returns whether a map changed. */
  sharedChanged(): boolean {
    if (!this.lastTopologies) return false;
    let changed = false;
    for (const [key, line] of this.lines) changed = this.update(key, line, this.lastTopologies) || changed;
    if (changed) this.publish();
    return changed;
  }

  private lines = new Map<string, Line>();
  /** Sessions on a line|port in other processes (workers), added to this process's own counts. */
  private elsewhere: (key: string) => number = () => 0;

  constructor(private readonly log?: Logger) {
    super();
  }

  /** Where the counts of sessions held by other processes come from. */
  countSessionsElsewhere(count: (key: string) => number): void {
    this.elsewhere = count;
  }

  /** Take a new set of lines, keeping the assignments of lines that did not change. */
  setLines(lines: readonly ClusterLine[], clusters: Topologies): void {
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
    this.publish();
  }

  /** Recompute the lines of `cluster` after its topology changed. Returns whether any map changed. */
  topologyChanged(cluster: string, clusters: Topologies): boolean {
    let changed = false;
    for (const [key, line] of this.lines)
      if (line.cluster === cluster) changed = this.update(key, line, clusters) || changed;
    if (changed) this.publish();
    return changed;
  }

  /** Every line's map, for replicas. */
  assignments(): LineAssignment[] {
    return [...this.lines].map(([key, l]) => ({
      key,
      version: l.version,
      ports: [...l.assignment.byPort],
    }));
  }

  private publish(): void {
    this.byLine = new Map(
      [...this.lines].map(([key, l]) => [key, { byPort: l.assignment.byPort, version: l.version }]),
    );
  }

  private update(key: string, line: Line, clusters: Topologies): boolean {
    this.lastTopologies = clusters;
    const topology = clusters.topology(line.cluster);
    if (!topology) return false;
    const known = this.shared?.known(key);
    const before = line.assignment;
    const prev = known ? adoptShared(before, known, topology.nodes, line.range) : before;
    const draining = new Set<number>();
    const ids = new Set(topology.nodes.map((n) => n.id));
    for (const [port, node] of prev.byPort) {
      const k = portKey(key, port);
      if (!ids.has(node.id) && (this.sessionsOnPort.get(k) ?? 0) + this.elsewhere(k) > 0) draining.add(port);
    }
    line.assignment = assignPorts(prev, topology.nodes, line.range, draining);
    let changed = false;
    for (const [id, port] of line.assignment.byNode) {
      if (before.byNode.get(id) !== port) {
        changed = true;
        const n = line.assignment.byPort.get(port)!;
        this.log?.info(
          { line: key, node: `${n.host}:${n.port}`, id, port },
          'cluster node gets a public port',
        );
      }
    }
    for (const [id, port] of before.byNode) {
      if (!line.assignment.byNode.has(id)) {
        changed = true;
        this.log?.info(
          { line: key, id, port, draining: draining.has(port) },
          'cluster node gone; its public port is retired',
        );
      }
    }
    if (changed) line.version++;
    // Tell the shared table what this host gives each node (it keeps whatever was claimed first).
    if (this.shared && (changed || !known || known.size !== line.assignment.byNode.size))
      this.shared.claim(key, line.assignment.byNode);
    for (const id of line.assignment.unplaced)
      this.log?.warn({ line: key, id }, 'no free public port for a cluster node; widen the listen range');
    return changed;
  }
}

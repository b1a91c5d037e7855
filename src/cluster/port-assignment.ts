// Which public port each node gets: stable while the node exists, a free port for a new node, and
// a removed node's port held back until its sessions drain. Pure: old map and topology in, new out.
import type { ClusterNode } from './topology.js';

export interface PortAssignment {
  /** node id → public port */
  readonly byNode: ReadonlyMap<string, number>;
  /** public port → node */
  readonly byPort: ReadonlyMap<number, ClusterNode>;
  /** Nodes that did not get a port because the range is full. */
  readonly unplaced: readonly string[];
}

export const EMPTY_ASSIGNMENT: PortAssignment = { byNode: new Map(), byPort: new Map(), unplaced: [] };

/**
 * @param range public ports [lo, hi]
 * @param draining ports of removed nodes that still carry sessions: not given to anyone yet
 */
export function assignPorts(
  previous: PortAssignment,
  nodes: readonly ClusterNode[],
  range: readonly [number, number],
  draining: ReadonlySet<number> = new Set(),
): PortAssignment {
  const byNode = new Map<string, number>();
  const byPort = new Map<number, ClusterNode>();
  const unplaced: string[] = [];
  const inRange = (p: number) => p >= range[0] && p <= range[1];
  // Keep what existing nodes had; an address change under the same id keeps the port too.
  for (const n of nodes) {
    const had = previous.byNode.get(n.id);
    if (had !== undefined && inRange(had) && !byPort.has(had)) {
      byNode.set(n.id, had);
      byPort.set(had, n);
    }
  }
  let next = range[0];
  // New nodes in the order given (discovery sorts by address), so two gateways fed the same
  // topology agree, and a static node list maps in the order it is written.
  for (const n of nodes) {
    if (byNode.has(n.id)) continue;
    while (next <= range[1] && (byPort.has(next) || draining.has(next))) next++;
    if (next > range[1]) {
      unplaced.push(n.id);
      continue;
    }
    byNode.set(n.id, next);
    byPort.set(next, n);
  }
  return { byNode, byPort, unplaced };
}

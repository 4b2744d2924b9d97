import type { LeafSet } from './leaf-set';
import type { NodeHandle } from './node-handle';

export interface MaintenancePlan {
  /** Nearest members per side, exchanged with every round: they keep the ring's order exact. */
  nearPerSide: number;
  /** Other members exchanged with per round, in turn, so each is checked every few rounds. */
  rotating: number;
}

/**
 * One per side is enough to keep successors and predecessors exact (each node repairs its
 * own neighbourhood); three in rotation check every other member of a full |L| = 16 leaf
 * set within five rounds. Exchanging with all |L| members each round cost an idle node
 * about 5% of a core and saturated two cores at 64 nodes.
 */
export const DEFAULT_MAINTENANCE_PLAN: MaintenancePlan = { nearPerSide: 1, rotating: 3 };

/**
 * The leaf-set members to exchange with in maintenance round `round`. A leaf set that is not
 * full believes it knows the whole ring, and a ring that small, or a node still converging,
 * is best served by talking to everyone.
 */
export function maintenanceTargets(leafSet: LeafSet, round: number, plan: MaintenancePlan = DEFAULT_MAINTENANCE_PLAN): NodeHandle[] {
  const members = leafSet.members();
  if (!leafSet.isFull()) return members;
  const chosen = new Map<string, NodeHandle>();
  for (const side of [leafSet.leftSide(), leafSet.rightSide()]) {
    for (const n of side.slice(0, plan.nearPerSide)) chosen.set(n.id, n);
  }
  const rest = members.filter((n) => !chosen.has(n.id));
  const count = Math.min(plan.rotating, rest.length);
  const start = rest.length === 0 ? 0 : (Math.max(0, Math.floor(round)) * plan.rotating) % rest.length;
  for (let i = 0; i < count; i++) {
    const n = rest[(start + i) % rest.length]!;
    chosen.set(n.id, n);
  }
  return [...chosen.values()];
}

/**
 * The farthest member on each side: after a member is lost, they know the nodes just beyond
 * this leaf set, one of which takes the free place (the paper's leaf-set repair).
 */
export function leafSetEdges(leafSet: LeafSet): NodeHandle[] {
  const edges = new Map<string, NodeHandle>();
  for (const side of [leafSet.leftSide(), leafSet.rightSide()]) {
    const far = side[side.length - 1];
    if (far) edges.set(far.id, far);
  }
  return [...edges.values()];
}

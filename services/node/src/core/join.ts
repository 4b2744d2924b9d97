import { sharedPrefixLength, type Id } from './id';
import type { NodeHandle } from './node-handle';
import type { RoutingState } from './routing-state';

/** What one node on a join path hands the joiner. */
export interface JoinContribution {
  /** Routing-table rows 0..shared-prefix-length, as (row index, nodes). */
  rows: { index: number; nodes: NodeHandle[] }[];
  /** The root's leaf set (including the root itself); empty from non-root hops. */
  leafSet: NodeHandle[];
}

/**
 * The Pastry join: the i-th node on the path shares at least i digits with the joiner, so
 * its rows up to that length are valid rows for the joiner; the root's leaf set is the
 * joiner's leaf set to be. Rows below the shared prefix are included too, which only helps.
 */
export function joinContribution(state: RoutingState, joinerId: Id, isRoot: boolean): JoinContribution {
  const shared = sharedPrefixLength(state.self.id, joinerId);
  const rows: JoinContribution['rows'] = [];
  for (let r = 0; r <= shared && r < 32; r++) {
    const nodes = state.table
      .row(r)
      .map((e) => e.node)
      .filter((n) => n.id !== joinerId);
    // This node itself belongs in the joiner's row `shared`.
    if (r === shared) nodes.push(state.self);
    if (nodes.length > 0) rows.push({ index: r, nodes });
  }
  const leafSet = isRoot ? [state.self, ...state.leafSet.members()].filter((n) => n.id !== joinerId) : [];
  return { rows, leafSet };
}

/** The joiner takes in everything the path handed it; returns the distinct nodes learned. */
export function adoptJoinState(
  state: RoutingState,
  contributions: { rows: { nodes: NodeHandle[] }[]; leafSet: NodeHandle[] },
  neighborhood: NodeHandle[],
  now: number,
): NodeHandle[] {
  const learned = new Map<Id, NodeHandle>();
  const take = (n: NodeHandle): void => {
    if (n.id === state.self.id) return;
    learned.set(n.id, n);
    state.learn(n, now);
  };
  contributions.leafSet.forEach(take);
  contributions.rows.forEach((row) => row.nodes.forEach(take));
  neighborhood.forEach(take);
  return [...learned.values()];
}

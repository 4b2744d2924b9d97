import { RING_SIZE, toBigInt, type Id } from './id';
import type { NodeHandle } from './node-handle';
import type { RoutingState } from './routing-state';

/**
 * The k nodes numerically closest to `key` as this node sees them: itself and its leaf set.
 * Exact while k - 1 <= |L|/2 and the key lies within the leaf-set range, which holds for the
 * keys a node stores. `exclude` drops one node, e.g. this node while it leaves.
 */
export function replicaSet(state: RoutingState, key: Id, k: number, exclude?: Id): NodeHandle[] {
  // Distances computed once per candidate: this runs for every stored object each round.
  const keyValue = toBigInt(key);
  const ranked = [state.self, ...state.leafSet.members()]
    .filter((n) => n.id !== exclude)
    .map((node) => {
      const d = (toBigInt(node.id) - keyValue) & MASK;
      const back = (RING_SIZE - d) & MASK;
      return { node, distance: d < back ? d : back };
    });
  ranked.sort((a, b) => (a.distance !== b.distance ? (a.distance < b.distance ? -1 : 1) : a.node.id < b.node.id ? -1 : 1));
  return ranked.slice(0, k).map((r) => r.node);
}

const MASK = RING_SIZE - 1n;

/** Whether this node is one of the key's k replicas by its own view. */
export function isReplica(state: RoutingState, key: Id, k: number): boolean {
  return replicaSet(state, key, k).some((n) => n.id === state.self.id);
}

/** Majority of k: the acknowledgements a write needs by default. */
export function majority(k: number): number {
  return Math.floor(k / 2) + 1;
}

/**
 * Last writer wins by (version, writer): positive when `a` is newer. A tombstone with the same
 * version and writer beats the live object it removes.
 */
export function compareVersions(
  a: { version: number; writer: Id; tombstone: boolean },
  b: { version: number; writer: Id; tombstone: boolean },
): number {
  if (a.version !== b.version) return a.version > b.version ? 1 : -1;
  if (a.writer !== b.writer) return a.writer > b.writer ? 1 : -1;
  if (a.tombstone !== b.tombstone) return a.tombstone ? 1 : -1;
  return 0;
}

/**
 * Pastry's nearest-replica heuristic, from what this node knows: the node a read for `key`
 * should go to next so that it reaches, among the key's k replicas, one near this node.
 * Once the leaf set covers the key the k closest members are the replicas, and the nearest
 * (by `rtt`, ms; Infinity when unknown) is chosen. Before that the ring's density, from the
 * leaf set, says the replicas lie within about k node spacings of the key: any known node
 * (leaf set, routing table, neighbourhood set) that close is probably one, and the nearest
 * is chosen; a guess that is not a replica costs only that hop, routing goes on from there.
 * Undefined when this node is a replica, knows none, or knows none with a measured RTT.
 * `exclude`: nodes not to choose (those the message already visited).
 */
export function nearestReplicaGuess(state: RoutingState, key: Id, k: number, rtt: (node: NodeHandle) => number, exclude?: ReadonlySet<Id>): NodeHandle | undefined {
  let candidates: NodeHandle[];
  if (state.leafSet.covers(key)) {
    candidates = replicaSet(state, key, k);
  } else {
    const radius = (RING_SIZE / BigInt(Math.max(1, state.estimateRingSize()))) * BigInt(k);
    const keyValue = toBigInt(key);
    candidates = state.knownNodes().filter((n) => {
      const d = (toBigInt(n.id) - keyValue) & MASK;
      const back = (RING_SIZE - d) & MASK;
      return (d < back ? d : back) <= radius;
    });
  }
  if (candidates.some((n) => n.id === state.self.id)) return undefined;
  let best: NodeHandle | undefined;
  let bestRtt = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (exclude?.has(c.id)) continue;
    const r = rtt(c);
    if (r < bestRtt) {
      best = c;
      bestRtt = r;
    }
  }
  return best;
}

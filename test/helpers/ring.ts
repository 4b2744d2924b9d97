import { compareCloseness, fromBigInt, type Id } from '../../services/node/src/core/id';
import type { NodeHandle } from '../../services/node/src/core/node-handle';
import { RoutingState } from '../../services/node/src/core/routing-state';

/** Deterministic pseudo-random ids for tests (splitmix-like over bigint). */
export function randomIds(count: number, seed: number): Id[] {
  let x = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  const ids = new Set<Id>();
  while (ids.size < count) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 128n) - 1n);
    ids.add(fromBigInt(x ^ (x >> 61n)));
  }
  return [...ids];
}

export function handle(id: Id, i = 0): NodeHandle {
  return { id, address: `n${i}`, name: `n${i}` };
}

/** Every node learns every other node: the state a perfectly converged ring has. */
export function fullyConnectedStates(ids: Id[], leafSetSize = 16): Map<Id, RoutingState> {
  const handles = ids.map(handle);
  const states = new Map<Id, RoutingState>();
  for (const h of handles) {
    const s = new RoutingState(h, { leafSetSize });
    for (const other of handles) s.learn(other, 0, { proximity: proximity(h.id, other.id) });
    states.set(h.id, s);
  }
  return states;
}

/** A stable fake RTT between two ids. */
export function proximity(a: Id, b: Id): number {
  const x = parseInt(a.slice(0, 6), 16) ^ parseInt(b.slice(0, 6), 16);
  return 1 + (x % 997);
}

export function trueRoot(ids: Id[], key: Id): Id {
  return ids.reduce((best, id) => (compareCloseness(key, id, best) < 0 ? id : best));
}

/** Routes with nextHop from `start`; returns the delivering node and the hop count. */
export function routeKey(states: Map<Id, RoutingState>, start: Id, key: Id, maxHops = 64): { root: Id; hops: number } {
  let current = start;
  for (let hops = 0; hops <= maxHops; hops++) {
    const d = states.get(current)!.nextHop(key);
    if (d.kind === 'deliver') return { root: current, hops };
    current = d.node.id;
  }
  throw new Error(`routing loop for key ${key}`);
}

import { DIGITS } from '../../../node/src/core';
import type { Rng } from '../rng';
import type { World } from '../world';

export interface OracleOptions {
  /**
   * Candidates (at random) the routing-table slot choice looks at; the nearest by proximity
   * wins. Small slots are searched fully. This stands in for the proximity-aware but not
   * perfect choice the join protocol makes.
   */
  candidates: number;
}

export interface OracleReport {
  build: 'oracle';
  buildMs: number;
  routingEntries: number;
}

const DIGIT_CHARS = '0123456789abcdef';

/**
 * Builds every node's state directly from the global picture instead of by joins, which
 * makes 100,000+ node rings affordable: leaf sets from the sorted ring, routing-table slots
 * from the id range holding the slot's prefix (proximity-aware choice among candidates),
 * neighbourhood sets from the network model's nearest nodes. It writes into the core's
 * tables through their public methods; routing then runs the real nextHop.
 */
export function buildOracle(world: World, options: OracleOptions, rng: Rng): OracleReport {
  const started = performance.now();
  const ring = world.liveRing();
  const sorted = ring.sortedNodes();
  const ids = ring.sortedIds();
  const n = sorted.length;
  const half = Math.min(world.config.leafSetSize / 2, n - 1);
  let routingEntries = 0;

  for (let p = 0; p < n; p++) {
    const x = sorted[p]!;
    const state = world.states[x]!;
    // Each side keeps its |L|/2 nearest of what it is offered; on rings smaller than
    // |L| + 1 the sides overlap and the leaf set sorts that out itself.
    for (let j = 1; j <= half; j++) {
      state.leafSet.insert(world.handles[sorted[(p + j) % n]!]!);
      state.leafSet.insert(world.handles[sorted[(((p - j) % n) + n) % n]!]!);
    }
    routingEntries += fillRoutingTable(world, x, p, ids, sorted, options.candidates, rng);
  }

  const index = world.model.proximityIndex();
  for (const x of sorted) index.insert(x);
  for (const x of sorted) {
    const neighbourhood = world.states[x]!.neighborhood;
    for (const m of index.nearest(x, world.config.neighborhoodSetSize)) neighbourhood.consider(world.handles[m]!, world.rtt(x, m));
  }
  return { build: 'oracle', buildMs: performance.now() - started, routingEntries };
}

/**
 * Row r, column c holds nodes whose ids start with x's first r digits then c: a contiguous
 * range of the sorted ring, found by binary search inside the range of x's own r-digit prefix.
 */
function fillRoutingTable(world: World, x: number, position: number, ids: readonly string[], sorted: readonly number[], candidates: number, rng: Rng): number {
  const table = world.states[x]!.table;
  const self = ids[position]!;
  let lo = 0;
  let hi = ids.length;
  let placed = 0;
  for (let row = 0; row < DIGITS && hi - lo > 1; row++) {
    const prefix = self.slice(0, row);
    const own = self[row]!;
    let nextLo = lo;
    let nextHi = hi;
    let start = lo;
    for (let c = 0; c < 16; c++) {
      const end = c === 15 ? hi : lowerBound(ids, prefix + DIGIT_CHARS[c + 1]!, start, hi);
      if (DIGIT_CHARS[c] === own) {
        nextLo = start;
        nextHi = end;
      } else if (end > start) {
        const best = nearestInRange(world, x, sorted, start, end, candidates, rng);
        table.consider(world.handles[best]!, world.rtt(x, best));
        placed++;
      }
      start = end;
    }
    lo = nextLo;
    hi = nextHi;
  }
  return placed;
}

function nearestInRange(world: World, x: number, sorted: readonly number[], start: number, end: number, candidates: number, rng: Rng): number {
  const size = end - start;
  let best = -1;
  let bestDelay = Number.POSITIVE_INFINITY;
  const consider = (m: number): void => {
    const d = world.model.delay(x, m);
    if (d < bestDelay) {
      bestDelay = d;
      best = m;
    }
  };
  if (size <= candidates) for (let i = start; i < end; i++) consider(sorted[i]!);
  else for (let k = 0; k < candidates; k++) consider(sorted[start + rng.int(size)]!);
  return best;
}

function lowerBound(ids: readonly string[], value: string, from: number, to: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

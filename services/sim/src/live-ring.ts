import { compareCloseness, type Id } from '../../node/src/core';

/**
 * The true membership: every live node's id in ring order. The simulator checks each
 * delivery against it (the root is the numerically closest live node) and draws replica sets
 * from it; no simulated node ever reads it.
 */
export class LiveRing {
  private readonly ids: Id[];
  private readonly nodes: number[];

  /** `idOf(i)` for every i with `isLive(i)`. */
  constructor(count: number, idOf: (node: number) => Id, isLive: (node: number) => boolean) {
    const live: number[] = [];
    for (let i = 0; i < count; i++) if (isLive(i)) live.push(i);
    // Equal-length lowercase hex sorts numerically as plain strings.
    live.sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
    this.nodes = live;
    this.ids = live.map(idOf);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Live nodes in ascending id order. */
  sortedNodes(): readonly number[] {
    return this.nodes;
  }

  sortedIds(): readonly Id[] {
    return this.ids;
  }

  /** Position of the first id >= `value` (may equal size). */
  lowerBound(value: string, from = 0, to = this.ids.length): number {
    let lo = from;
    let hi = to;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The key's root: the live node numerically closest to it (ties to the lower id). */
  root(key: Id): number {
    const n = this.ids.length;
    if (n === 0) throw new RangeError('no live node');
    const pos = this.lowerBound(key);
    const after = pos % n;
    const before = (pos - 1 + n) % n;
    return compareCloseness(key, this.ids[after]!, this.ids[before]!) <= 0 ? this.nodes[after]! : this.nodes[before]!;
  }

  /** The k live nodes numerically closest to the key, closest first: its replica set. */
  closest(key: Id, k: number): number[] {
    const n = this.ids.length;
    const take = Math.min(k, n);
    const pos = this.lowerBound(key);
    const positions = new Set<number>();
    for (let j = 0; j < take; j++) {
      positions.add((pos + j) % n);
      positions.add((((pos - 1 - j) % n) + n) % n);
    }
    return [...positions]
      .sort((a, b) => compareCloseness(key, this.ids[a]!, this.ids[b]!))
      .slice(0, take)
      .map((p) => this.nodes[p]!);
  }
}

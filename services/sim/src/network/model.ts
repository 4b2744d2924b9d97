/**
 * A network model: where the simulated nodes sit relative to each other. Nodes are numbered
 * 0..size-1; delays are one-way, in ms. The proximity Pastry sees (its RTT) is twice the delay.
 */
export interface NetworkModel {
  readonly kind: 'plane' | 'matrix';
  readonly size: number;
  /** One-way delay from node a to node b in ms. */
  delay(a: number, b: number): number;
  /** An index that finds the nearest nodes among those inserted so far. */
  proximityIndex(): ProximityIndex;
}

/** Finds the nodes nearest (by delay) to a node among an inserted subset. */
export interface ProximityIndex {
  insert(node: number): void;
  /** Up to k inserted nodes nearest to `node` (never `node` itself), nearest first. */
  nearest(node: number, k: number): number[];
}

/** The measured RTT Pastry's proximity metric uses. */
export function roundTrip(model: NetworkModel, a: number, b: number): number {
  return 2 * model.delay(a, b);
}

/**
 * Keeps the k best (lowest-scoring) items seen, sorted ascending. Used by the linear-scan
 * index and the plane grid alike.
 */
export class NearestK {
  readonly items: number[] = [];
  readonly scores: number[] = [];

  constructor(readonly k: number) {}

  /** The score a candidate must beat to enter, Infinity until k items are held. */
  get bound(): number {
    return this.items.length < this.k ? Number.POSITIVE_INFINITY : this.scores[this.scores.length - 1]!;
  }

  offer(item: number, score: number): void {
    if (score >= this.bound) return;
    let i = this.items.length;
    while (i > 0 && this.scores[i - 1]! > score) i--;
    this.items.splice(i, 0, item);
    this.scores.splice(i, 0, score);
    if (this.items.length > this.k) {
      this.items.pop();
      this.scores.pop();
    }
  }
}

/** Exact nearest neighbours by scanning every inserted node: for models with no geometry. */
export class ScanIndex implements ProximityIndex {
  private readonly members: number[] = [];

  constructor(private readonly model: NetworkModel) {}

  insert(node: number): void {
    this.members.push(node);
  }

  nearest(node: number, k: number): number[] {
    const best = new NearestK(k);
    for (const m of this.members) if (m !== node) best.offer(m, this.model.delay(node, m));
    return best.items;
  }
}

import { RING_SIZE, clockwiseDistance, compareCloseness, type Id } from './id';
import type { NodeHandle } from './node-handle';

/**
 * The |L| numerically closest members: |L|/2 clockwise (larger ids) and |L|/2
 * counter-clockwise, each side nearest first. On a ring of fewer than |L| + 1 members a
 * node appears on both sides.
 */
export class LeafSet {
  readonly half: number;
  private readonly left: NodeHandle[] = [];
  private readonly right: NodeHandle[] = [];

  constructor(
    readonly self: NodeHandle,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) {
      throw new RangeError(`leaf set size must be an even integer >= 2, got ${size}`);
    }
    this.half = size / 2;
  }

  /** Counter-clockwise neighbours, nearest first. */
  leftSide(): readonly NodeHandle[] {
    return this.left;
  }

  /** Clockwise neighbours, nearest first. */
  rightSide(): readonly NodeHandle[] {
    return this.right;
  }

  /** Distinct members of both sides. */
  members(): NodeHandle[] {
    const seen = new Map<Id, NodeHandle>();
    for (const n of this.left) seen.set(n.id, n);
    for (const n of this.right) seen.set(n.id, n);
    return [...seen.values()];
  }

  has(id: Id): boolean {
    return this.left.some((n) => n.id === id) || this.right.some((n) => n.id === id);
  }

  /** True when both sides hold |L|/2 members. */
  isFull(): boolean {
    return this.left.length === this.half && this.right.length === this.half;
  }

  /** Adds a candidate where it is among the nearest; returns whether anything changed. */
  insert(node: NodeHandle): boolean {
    if (node.id === this.self.id) return false;
    const r = insertSorted(this.right, node, this.half, (n) => clockwiseDistance(this.self.id, n.id));
    const l = insertSorted(this.left, node, this.half, (n) => clockwiseDistance(n.id, this.self.id));
    return r || l;
  }

  /** Whether `insert(node)` would make it a member (it is not one, and it is among the nearest). */
  wouldAdmit(node: NodeHandle): boolean {
    if (node.id === this.self.id || this.has(node.id)) return false;
    const fits = (side: NodeHandle[], d: (n: NodeHandle) => bigint): boolean => side.length < this.half || d(side[side.length - 1]!) > d(node);
    return fits(this.right, (n) => clockwiseDistance(this.self.id, n.id)) || fits(this.left, (n) => clockwiseDistance(n.id, this.self.id));
  }

  /**
   * Of `nodes`, those that would be members if every one of them were inserted: the only
   * ones worth probing when several candidates compete for the same places.
   */
  admissible(nodes: readonly NodeHandle[]): NodeHandle[] {
    const trial = new LeafSet(this.self, this.size);
    for (const n of this.left) trial.insert(n);
    for (const n of this.right) trial.insert(n);
    for (const n of nodes) trial.insert(n);
    return nodes.filter((n) => !this.has(n.id) && trial.has(n.id));
  }

  remove(id: Id): boolean {
    const l = removeFrom(this.left, id);
    const r = removeFrom(this.right, id);
    return l || r;
  }

  /**
   * Whether `key` lies within the range the leaf set spans. A side that is not full means
   * the node knows fewer than |L|/2 others, all of them on both sides: it believes it
   * knows the whole ring.
   */
  covers(key: Id): boolean {
    const span = this.span();
    if (span === null) return true;
    const leftmost = this.left[this.left.length - 1]!;
    return clockwiseDistance(leftmost.id, key) <= span;
  }

  /** Length of the arc from the leftmost to the rightmost member, or null for the whole ring. */
  span(): bigint | null {
    if (!this.isFull()) return null;
    const leftmost = this.left[this.left.length - 1]!;
    const rightmost = this.right[this.right.length - 1]!;
    const arc = clockwiseDistance(leftmost.id, this.self.id) + clockwiseDistance(this.self.id, rightmost.id);
    return arc >= RING_SIZE ? null : arc;
  }

  /** The member (or self) numerically closest to `key`, skipping members `skip` names. */
  closest(key: Id, skip: (id: Id) => boolean = () => false): NodeHandle {
    let best = this.self;
    for (const side of [this.left, this.right]) {
      for (const n of side) {
        if (skip(n.id)) continue;
        if (compareCloseness(key, n.id, best.id) < 0) best = n;
      }
    }
    return best;
  }
}

function insertSorted(
  side: NodeHandle[],
  node: NodeHandle,
  limit: number,
  distance: (n: NodeHandle) => bigint,
): boolean {
  const existing = side.findIndex((n) => n.id === node.id);
  if (existing >= 0) {
    if (side[existing]!.address === node.address && side[existing]!.name === node.name) return false;
    side[existing] = node; // same id, new address: a restarted pod
    return true;
  }
  const d = distance(node);
  let i = side.length;
  while (i > 0 && distance(side[i - 1]!) > d) i--;
  if (i >= limit) return false;
  side.splice(i, 0, node);
  if (side.length > limit) side.pop();
  return true;
}

function removeFrom(side: NodeHandle[], id: Id): boolean {
  const i = side.findIndex((n) => n.id === id);
  if (i < 0) return false;
  side.splice(i, 1);
  return true;
}

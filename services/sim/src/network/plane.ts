import type { Rng } from '../rng';
import { NearestK, type NetworkModel, type ProximityIndex } from './model';

/**
 * The Pastry paper's network: nodes at uniformly random points of a square, the delay between
 * two nodes their Euclidean distance.
 */
export class EuclideanPlane implements NetworkModel {
  readonly kind = 'plane' as const;

  constructor(
    readonly xs: Float64Array,
    readonly ys: Float64Array,
    readonly side: number,
  ) {
    if (xs.length !== ys.length) throw new RangeError('x and y coordinate counts differ');
  }

  static random(size: number, rng: Rng, side = 1000): EuclideanPlane {
    const xs = new Float64Array(size);
    const ys = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      xs[i] = rng.float() * side;
      ys[i] = rng.float() * side;
    }
    return new EuclideanPlane(xs, ys, side);
  }

  get size(): number {
    return this.xs.length;
  }

  delay(a: number, b: number): number {
    // Not Math.hypot: it guards against overflow we cannot have here and is several times slower.
    const dx = this.xs[a]! - this.xs[b]!;
    const dy = this.ys[a]! - this.ys[b]!;
    return Math.sqrt(dx * dx + dy * dy);
  }

  proximityIndex(): ProximityIndex {
    return new PlaneGrid(this);
  }
}

/**
 * A uniform grid over the square (about two nodes per cell when full) so nearest-neighbour
 * queries look at a few cells instead of every node: the join build asks one query per
 * joining node and the oracle build one per node, which would be quadratic by scanning.
 */
export class PlaneGrid implements ProximityIndex {
  private readonly cells: number[][];
  private readonly perSide: number;
  private readonly cellSize: number;
  private count = 0;

  constructor(private readonly plane: EuclideanPlane) {
    this.perSide = Math.max(1, Math.ceil(Math.sqrt(plane.size / 2)));
    this.cellSize = plane.side / this.perSide;
    this.cells = Array.from({ length: this.perSide * this.perSide }, () => []);
  }

  insert(node: number): void {
    this.cells[this.cellOf(node)]!.push(node);
    this.count++;
  }

  nearest(node: number, k: number): number[] {
    const best = new NearestK(k);
    const cx = this.column(this.plane.xs[node]!);
    const cy = this.column(this.plane.ys[node]!);
    // Rings of cells around the node's cell; a ring at Chebyshev radius r holds no point
    // nearer than (r - 1) cell sizes, so stop once that exceeds the k-th best distance.
    for (let r = 0; r <= this.perSide; r++) {
      if (best.items.length >= Math.min(k, this.count - 1) && (r - 1) * this.cellSize > best.bound) break;
      for (let x = cx - r; x <= cx + r; x++) {
        if (x < 0 || x >= this.perSide) continue;
        const onEdge = x === cx - r || x === cx + r;
        for (let y = cy - r; y <= cy + r; y += onEdge ? 1 : 2 * r) {
          if (y >= 0 && y < this.perSide) this.scan(this.cells[x * this.perSide + y]!, node, best);
          if (r === 0) break;
        }
      }
    }
    return best.items;
  }

  private scan(cell: number[], node: number, best: NearestK): void {
    for (const m of cell) if (m !== node) best.offer(m, this.plane.delay(node, m));
  }

  private cellOf(node: number): number {
    return this.column(this.plane.xs[node]!) * this.perSide + this.column(this.plane.ys[node]!);
  }

  private column(coordinate: number): number {
    return Math.min(this.perSide - 1, Math.max(0, Math.floor(coordinate / this.cellSize)));
  }
}

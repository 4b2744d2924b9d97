import type { Rng } from '../rng';
import { ScanIndex, type NetworkModel, type ProximityIndex } from './model';

/** A full matrix costs size² floats; past this the plane model is the one to use. */
export const MAX_MATRIX_NODES = 10_000;

/** Regions of the synthetic matrix: delays cluster the way continents and ISPs do. */
const REGIONS = 8;

/**
 * A latency matrix: one-way delays measured (or generated) between every pair of nodes.
 * Unlike the plane it need not obey the triangle inequality, as real Internet delays don't.
 */
export class LatencyMatrix implements NetworkModel {
  readonly kind = 'matrix' as const;

  constructor(
    readonly size: number,
    private readonly delays: Float32Array,
  ) {
    if (delays.length !== size * size) throw new RangeError(`a ${size}-node matrix needs ${size * size} delays`);
  }

  /**
   * A seeded synthetic matrix: each node sits in one of a few regions behind an access link;
   * a pair's delay is both access links plus the region-to-region base delay, with ±10%
   * per-pair jitter (which breaks the triangle inequality a little, as measured data does).
   */
  static synthetic(size: number, rng: Rng): LatencyMatrix {
    checkSize(size);
    const base = new Float64Array(REGIONS * REGIONS);
    for (let r = 0; r < REGIONS; r++) {
      for (let s = r; s < REGIONS; s++) {
        const d = r === s ? 1 + rng.float() * 9 : 20 + rng.float() * 100;
        base[r * REGIONS + s] = d;
        base[s * REGIONS + r] = d;
      }
    }
    const region = new Uint8Array(size);
    const access = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      region[i] = rng.int(REGIONS);
      access[i] = 0.5 + rng.float() * 4.5;
    }
    const delays = new Float32Array(size * size);
    for (let a = 0; a < size; a++) {
      for (let b = a + 1; b < size; b++) {
        const core = base[region[a]! * REGIONS + region[b]!]! * (0.9 + rng.float() * 0.2);
        const d = access[a]! + access[b]! + core;
        delays[a * size + b] = d;
        delays[b * size + a] = d;
      }
    }
    return new LatencyMatrix(size, delays);
  }

  /**
   * Reads a square matrix of one-way delays in ms: JSON (an array of rows) or plain text with
   * one whitespace-separated row per line. The diagonal is ignored.
   */
  static parse(text: string): LatencyMatrix {
    const trimmed = text.trim();
    const rows: number[][] = trimmed.startsWith('[')
      ? (JSON.parse(trimmed) as unknown[]).map((row) => {
          if (!Array.isArray(row)) throw new RangeError('a latency matrix in JSON is an array of rows');
          return row.map(Number);
        })
      : trimmed.split(/\r?\n/).filter((l) => l.trim() !== '').map((l) => l.trim().split(/[\s,]+/).map(Number));
    const size = rows.length;
    checkSize(size);
    const delays = new Float32Array(size * size);
    rows.forEach((row, a) => {
      if (row.length !== size) throw new RangeError(`latency matrix row ${a} has ${row.length} entries, expected ${size}`);
      row.forEach((d, b) => {
        if (a !== b && !(Number.isFinite(d) && d >= 0)) {
          throw new RangeError(`latency matrix entry [${a}][${b}] is not a non-negative number`);
        }
        delays[a * size + b] = a === b ? 0 : d;
      });
    });
    return new LatencyMatrix(size, delays);
  }

  delay(a: number, b: number): number {
    return this.delays[a * this.size + b]!;
  }

  proximityIndex(): ProximityIndex {
    return new ScanIndex(this);
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > MAX_MATRIX_NODES) {
    throw new RangeError(`a latency matrix holds 1..${MAX_MATRIX_NODES} nodes, got ${size}`);
  }
}

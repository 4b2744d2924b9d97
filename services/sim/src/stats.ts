/** A histogram of small non-negative integers (hop counts) with its mean and maximum. */
export class Histogram {
  private readonly counts: number[] = [];
  private total = 0;
  private sum = 0;

  add(value: number): void {
    this.counts[value] = (this.counts[value] ?? 0) + 1;
    this.total++;
    this.sum += value;
  }

  get count(): number {
    return this.total;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  get max(): number {
    return this.counts.length === 0 ? 0 : this.counts.length - 1;
  }

  /** Fraction of samples per value, every value from 0 to the maximum present. */
  distribution(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let v = 0; v < this.counts.length; v++) out[String(v)] = this.total === 0 ? 0 : (this.counts[v] ?? 0) / this.total;
    return out;
  }
}

/** Running mean of a real-valued quantity. */
export class Mean {
  private n = 0;
  private sum = 0;

  add(value: number): void {
    this.n++;
    this.sum += value;
  }

  get count(): number {
    return this.n;
  }

  get value(): number {
    return this.n === 0 ? 0 : this.sum / this.n;
  }
}

/** Rounds for reports, so outputs stay readable and stable. */
export function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function memoryMb(): { rssMb: number; heapUsedMb: number } {
  const m = process.memoryUsage();
  return { rssMb: Math.round(m.rss / 2 ** 20), heapUsedMb: Math.round(m.heapUsed / 2 ** 20) };
}

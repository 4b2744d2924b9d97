import type { Id } from '../core/id';
import type { Store } from '../store/store';
import { DIGEST_BYTES, itemHash, leafBounds, leafOf, xorInto, type LeafDigest } from '../store/tree';

/** What a node holds in a range: the XOR of its item hashes and their count. */
export interface Summary {
  digest: Buffer;
  count: number;
  /** False when a partial leaf held more objects than one scan reads: never equal to anything. */
  exact: boolean;
}

/**
 * Summaries of any GUID range from one snapshot of the store's leaf digests: whole leaves
 * come from the snapshot, and only the leaves a range cuts at its two ends are read. A
 * summary's cost is bounded by two leaves, not by what the range holds.
 */
export class TreeView {
  constructor(
    private readonly store: Store,
    private readonly leaves: Map<number, LeafDigest>,
    private readonly scanLimit: number,
  ) {}

  static async of(store: Store, scanLimit: number): Promise<TreeView> {
    return new TreeView(store, await store.leaves(), scanLimit);
  }

  async summary(from: Id, to: Id): Promise<Summary> {
    const acc: Summary = { digest: Buffer.alloc(DIGEST_BYTES), count: 0, exact: true };
    const first = leafOf(from);
    const last = leafOf(to);
    const whole = (leaf: number): void => {
      const d = this.leaves.get(leaf);
      if (!d) return;
      xorInto(acc.digest, d.digest);
      acc.count += d.count;
    };
    const scan = async (a: Id, b: Id): Promise<void> => {
      const objects = await this.store.range(a, b, this.scanLimit, { values: false });
      if (objects.length >= this.scanLimit) acc.exact = false;
      for (const o of objects) xorInto(acc.digest, itemHash(o));
      acc.count += objects.length;
    };
    const firstBounds = leafBounds(first);
    const lastBounds = leafBounds(last);
    if (first === last) {
      if (from === firstBounds.from && to === firstBounds.to) whole(first);
      else await scan(from, to);
      return acc;
    }
    if (from === firstBounds.from) whole(first);
    else await scan(from, firstBounds.to);
    // Whichever is shorter: the leaves in between, or the non-empty ones.
    if (last - first - 1 <= this.leaves.size) for (let l = first + 1; l < last; l++) whole(l);
    else for (const l of this.leaves.keys()) if (l > first && l < last) whole(l);
    if (to === lastBounds.to) whole(last);
    else await scan(lastBounds.from, to);
    return acc;
  }
}

export function sameSummary(a: Summary, digest: Buffer, count: number): boolean {
  return a.exact && a.count === count && a.digest.equals(digest);
}

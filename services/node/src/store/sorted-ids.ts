import type { Id } from '../core/id';

/** Chunks split above this many ids: inserts and deletes move at most this many entries. */
const MAX_CHUNK = 2048;

/**
 * Ids in ascending order, as a list of sorted chunks: an insert or delete splices one chunk
 * (O(√n)-ish, not O(n) as one sorted array does), so millions of objects load at a steady
 * rate; a range read is a binary search and then a walk.
 */
export class SortedIds {
  private chunks: Id[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  insert(id: Id): void {
    if (this.chunks.length === 0) {
      this.chunks.push([id]);
      this.count = 1;
      return;
    }
    const c = this.chunkFor(id);
    const chunk = this.chunks[c]!;
    const i = lowerBound(chunk, id);
    if (chunk[i] === id) return;
    chunk.splice(i, 0, id);
    this.count++;
    if (chunk.length > MAX_CHUNK) this.chunks.splice(c, 1, chunk.slice(0, chunk.length >> 1), chunk.slice(chunk.length >> 1));
  }

  delete(id: Id): boolean {
    if (this.chunks.length === 0) return false;
    const c = this.chunkFor(id);
    const chunk = this.chunks[c]!;
    const i = lowerBound(chunk, id);
    if (chunk[i] !== id) return false;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(c, 1);
    return true;
  }

  /** Calls `visit` for ids >= `from`, ascending, until it returns false or the ids run out. */
  walk(from: Id, visit: (id: Id) => boolean): void {
    if (this.chunks.length === 0) return;
    let c = this.chunkFor(from);
    let i = lowerBound(this.chunks[c]!, from);
    for (; c < this.chunks.length; c++, i = 0) {
      const chunk = this.chunks[c]!;
      for (; i < chunk.length; i++) if (!visit(chunk[i]!)) return;
    }
  }

  /** The chunk whose range holds `id`: the last one whose first id is <= it (or the first). */
  private chunkFor(id: Id): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunks[mid]![0]! <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(keys: Id[], key: Id): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

import type { Id } from '../core/id';

/** Chunks split above this many ids: inserts and deletes move at most this many entries. */
const MAX_CHUNK = 2048;

interface Chunk<V> {
  keys: Id[];
  values: V[];
}

/**
 * Ids in ascending order, each with a value, as a list of sorted chunks: an insert or
 * delete splices one chunk (O(√n)-ish, not O(n) as one sorted array does), so millions of
 * objects load at a steady rate; a lookup is two binary searches, a range read one and then
 * a walk. It needs no hash table beside it: a store's index and its map in one.
 */
export class SortedMap<V> {
  private chunks: Chunk<V>[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: Id): V | undefined {
    if (this.chunks.length === 0) return undefined;
    const chunk = this.chunks[this.chunkFor(id)]!;
    const i = lowerBound(chunk.keys, id);
    return chunk.keys[i] === id ? chunk.values[i] : undefined;
  }

  /** Sets the value of `id`, adding it if absent; true when it was added. */
  set(id: Id, value: V): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [id], values: [value] });
      this.count = 1;
      return true;
    }
    const c = this.chunkFor(id);
    const chunk = this.chunks[c]!;
    const i = lowerBound(chunk.keys, id);
    if (chunk.keys[i] === id) {
      chunk.values[i] = value;
      return false;
    }
    chunk.keys.splice(i, 0, id);
    chunk.values.splice(i, 0, value);
    this.count++;
    if (chunk.keys.length > MAX_CHUNK) {
      const half = chunk.keys.length >> 1;
      this.chunks.splice(c, 1, { keys: chunk.keys.slice(0, half), values: chunk.values.slice(0, half) }, { keys: chunk.keys.slice(half), values: chunk.values.slice(half) });
    }
    return true;
  }

  delete(id: Id): boolean {
    if (this.chunks.length === 0) return false;
    const c = this.chunkFor(id);
    const chunk = this.chunks[c]!;
    const i = lowerBound(chunk.keys, id);
    if (chunk.keys[i] !== id) return false;
    chunk.keys.splice(i, 1);
    chunk.values.splice(i, 1);
    this.count--;
    if (chunk.keys.length === 0) this.chunks.splice(c, 1);
    return true;
  }

  /** Calls `visit` for ids >= `from`, ascending, until it returns false or the ids run out. */
  walk(from: Id, visit: (id: Id, value: V) => boolean): void {
    if (this.chunks.length === 0) return;
    let c = this.chunkFor(from);
    let i = lowerBound(this.chunks[c]!.keys, from);
    for (; c < this.chunks.length; c++, i = 0) {
      const { keys, values } = this.chunks[c]!;
      for (; i < keys.length; i++) if (!visit(keys[i]!, values[i]!)) return;
    }
  }

  /** The chunk whose range holds `id`: the last one whose first id is <= it (or the first). */
  private chunkFor(id: Id): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunks[mid]!.keys[0]! <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Ids in ascending order, without values. */
export class SortedIds extends SortedMap<true> {
  insert(id: Id): void {
    this.set(id, true);
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

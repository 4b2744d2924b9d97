import type { Id } from '../core/id';

/**
 * Verified chunks this node fetched, kept so it can serve them to other downloaders (a
 * BitTorrent peer's pieces), bounded in bytes; least recently used go first.
 */
export class ChunkCache {
  private readonly chunks = new Map<Id, Buffer>();
  private used = 0;
  /** Chunks served from here to other nodes, and their bytes. */
  readonly stats = { served: 0, servedBytes: 0, hits: 0, misses: 0 };

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.chunks.size;
  }

  get(guid: Id): Buffer | undefined {
    const data = this.chunks.get(guid);
    if (!data) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.chunks.delete(guid);
    this.chunks.set(guid, data);
    return data;
  }

  has(guid: Id): boolean {
    return this.chunks.has(guid);
  }

  put(guid: Id, data: Buffer): void {
    if (data.length > this.maxBytes) return;
    this.delete(guid);
    this.chunks.set(guid, data);
    this.used += data.length;
    for (const [oldest, bytes] of this.chunks) {
      if (this.used <= this.maxBytes) break;
      this.chunks.delete(oldest);
      this.used -= bytes.length;
    }
  }

  delete(guid: Id): void {
    const old = this.chunks.get(guid);
    if (!old) return;
    this.chunks.delete(guid);
    this.used -= old.length;
  }
}

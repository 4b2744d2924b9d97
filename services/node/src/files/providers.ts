import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';

interface Provider {
  node: NodeHandle;
  until: number;
}

/**
 * At a chunk's root: the nodes that recently looked the chunk up, and so hold it in their
 * caches (a BitTorrent tracker's peer list, per chunk). Soft state: bounded per chunk and in
 * all, expiring, lost with the root; a provider that no longer has the chunk just says so.
 */
export class ProviderTable {
  private readonly table = new Map<Id, Map<Id, Provider>>();

  constructor(
    private readonly limits: { ttlMs: number; perChunk: number; chunks: number },
    private readonly random: () => number = Math.random,
  ) {}

  get chunks(): number {
    return this.table.size;
  }

  /** Up to `max` live providers of `guid` other than `exclude`, in random order, and how many are on record. */
  lookup(guid: Id, now: number, max: number, exclude?: Id): { providers: NodeHandle[]; count: number } {
    const entry = this.table.get(guid);
    if (!entry) return { providers: [], count: 0 };
    const live: NodeHandle[] = [];
    for (const [id, p] of entry) {
      if (p.until <= now) entry.delete(id);
      else if (id !== exclude) live.push(p.node);
    }
    if (entry.size === 0) this.table.delete(guid);
    for (let i = live.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [live[i], live[j]] = [live[j]!, live[i]!];
    }
    return { providers: live.slice(0, max), count: entry.size };
  }

  /** Records `node` as a provider of `guid`; the oldest record goes when a bound is reached. */
  record(guid: Id, node: NodeHandle, now: number): void {
    let entry = this.table.get(guid);
    if (!entry) {
      if (this.table.size >= this.limits.chunks) {
        const oldest = this.table.keys().next().value;
        if (oldest !== undefined) this.table.delete(oldest);
      }
      entry = new Map();
      this.table.set(guid, entry);
    }
    entry.delete(node.id);
    entry.set(node.id, { node, until: now + this.limits.ttlMs });
    if (entry.size > this.limits.perChunk) {
      const oldest = entry.keys().next().value;
      if (oldest !== undefined) entry.delete(oldest);
    }
  }

  /** The chunk is gone (removed): nobody provides it. */
  forget(guid: Id): void {
    this.table.delete(guid);
  }

  /** A node left: its records go. */
  drop(node: Id): void {
    for (const [guid, entry] of this.table) {
      entry.delete(node);
      if (entry.size === 0) this.table.delete(guid);
    }
  }
}

import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { compareVersions } from '../core/replicas';

/** Identity and version of a copy, for ordering against an invalidation. */
export interface Versioned {
  version: number;
  writer: Id;
  tombstone: boolean;
}

interface Cached extends Versioned {
  value: Buffer;
  /** On this node's clock; the lease the serving replica granted ends no earlier. */
  expires: number;
}

/**
 * Copies of popular objects kept by the nodes a read passed on its way to a replica (PAST's
 * caching along the route). Every entry is covered by a lease from the replica that served
 * it: the replica revokes it before it takes a newer version, and the entry expires by
 * itself when the lease does. An invalidation is remembered for a lease's length, so a
 * reply still in flight with the old version is not cached after it. Bounded in bytes,
 * least recently used first out.
 */
export class RouteCache {
  private readonly entries = new Map<Id, Cached>();
  private readonly invalidated = new Map<Id, Versioned & { until: number }>();
  private bytes = 0;
  hits = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly leaseMs: number,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0 && this.leaseMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  get(guid: Id, now: number): Cached | undefined {
    const e = this.entries.get(guid);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.drop(guid);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(guid);
    this.entries.set(guid, e);
    this.hits++;
    return e;
  }

  put(guid: Id, copy: Versioned & { value: Buffer }, expires: number, now: number): void {
    if (!this.enabled || copy.tombstone || expires <= now || copy.value.length > this.maxBytes) return;
    const gone = this.invalidated.get(guid);
    if (gone && gone.until > now && compareVersions(copy, gone) <= 0) return;
    this.drop(guid);
    this.entries.set(guid, { version: copy.version, writer: copy.writer, tombstone: false, value: Buffer.from(copy.value), expires });
    this.bytes += copy.value.length;
    for (const [g] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(g);
    }
  }

  /** Drops the copy of `guid` unless it is already as new as `newer`. */
  invalidate(guid: Id, newer: Versioned, now: number): void {
    const e = this.entries.get(guid);
    if (e && compareVersions(e, newer) < 0) this.drop(guid);
    const prior = this.invalidated.get(guid);
    if (!prior || compareVersions(prior, newer) < 0) {
      this.invalidated.delete(guid);
      this.invalidated.set(guid, { ...newer, until: now + this.leaseMs });
    }
    // Invalidations live a lease each; old ones go as new ones come.
    for (const [g, v] of this.invalidated) {
      if (v.until > now) break;
      this.invalidated.delete(g);
    }
  }

  private drop(guid: Id): void {
    const e = this.entries.get(guid);
    if (!e) return;
    this.bytes -= e.value.length;
    this.entries.delete(guid);
  }
}

/**
 * The leases a replica granted: which nodes may hold a cached copy of which object, until
 * when. Bounded; a replica with no room grants no lease (the reader simply does not cache).
 */
export class LeaseTable {
  private readonly leases = new Map<Id, Map<Id, { holder: NodeHandle; until: number }>>();
  private count = 0;

  constructor(
    readonly leaseMs: number,
    private readonly maxLeases: number,
    private readonly maxHoldersPerObject: number,
  ) {}

  /** Records leases for `holders` on `guid`; returns the lease length granted, 0 for none. */
  grant(guid: Id, holders: NodeHandle[], now: number): number {
    if (this.leaseMs <= 0 || holders.length === 0) return 0;
    this.expire(guid, now);
    let table = this.leases.get(guid);
    const fresh = holders.filter((h) => !table?.has(h.id));
    if (this.count + fresh.length > this.maxLeases) for (const g of [...this.leases.keys()]) this.expire(g, now);
    table = this.leases.get(guid);
    if (this.count + fresh.length > this.maxLeases || (table?.size ?? 0) + fresh.length > this.maxHoldersPerObject) return 0;
    if (!table) this.leases.set(guid, (table = new Map()));
    for (const holder of holders) {
      if (!table.has(holder.id)) this.count++;
      table.set(holder.id, { holder, until: now + this.leaseMs });
    }
    return this.leaseMs;
  }

  /** The unexpired leases on `guid`, removed from the table: the caller revokes them. */
  take(guid: Id, now: number): { holder: NodeHandle; until: number }[] {
    this.expire(guid, now);
    const table = this.leases.get(guid);
    if (!table) return [];
    this.leases.delete(guid);
    this.count -= table.size;
    return [...table.values()];
  }

  /** Leases held in all (tests, metrics). */
  get size(): number {
    return this.count;
  }

  private expire(guid: Id, now: number): void {
    const table = this.leases.get(guid);
    if (!table) return;
    for (const [id, l] of table) {
      if (l.until <= now) {
        table.delete(id);
        this.count--;
      }
    }
    if (table.size === 0) this.leases.delete(guid);
  }
}

import type { Id } from '../core/id';
import { SortedIds } from './sorted-ids';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';
import { LeafTable, type LeafDigest } from './tree';

/**
 * The embedded default: a map plus a sorted index of the GUIDs for range reads, the hash
 * tree's leaves, and the tombstones by GUID for their collection.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly objects = new Map<Id, StoredObject>();
  private readonly keys = new SortedIds();
  private live = { objects: 0, bytes: 0 };
  private readonly tree = new LeafTable();
  private readonly dead = new Map<Id, number>();
  private readonly pointers = new SortedIds();

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  async get(guid: Id): Promise<StoredObject | undefined> {
    const o = this.objects.get(guid);
    return o && copy(o);
  }

  async put(object: StoredObject): Promise<void> {
    const old = this.objects.get(object.guid);
    if (!old) this.keys.insert(object.guid);
    this.tally(old, -1);
    this.objects.set(object.guid, copy(object));
    this.tally(object, 1);
  }

  async delete(guid: Id): Promise<boolean> {
    const old = this.objects.get(guid);
    if (!old) return false;
    this.objects.delete(guid);
    this.tally(old, -1);
    this.keys.delete(guid);
    return true;
  }

  async range(from: Id, to: Id, limit: number, options: RangeOptions = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const collect = (start: Id, end: Id): void => {
      if (out.length >= limit) return;
      this.keys.walk(start, (id) => {
        if (id > end) return false;
        const o = this.objects.get(id)!;
        out.push(options.values === false ? { ...o, value: Buffer.alloc(0) } : copy(o));
        return out.length < limit;
      });
    };
    if (from <= to) {
      collect(from, to);
    } else {
      collect(from, 'f'.repeat(32));
      collect('0'.repeat(32), to);
    }
    return out;
  }

  async count(): Promise<number> {
    return this.objects.size;
  }

  usage(): StoreUsage {
    return { ...this.live };
  }

  async leaves(): Promise<Map<number, LeafDigest>> {
    return this.tree.snapshot();
  }

  async tombstones(before: number, limit: number): Promise<StoredObject[]> {
    return [...this.dead]
      .filter(([, createdAt]) => createdAt <= before)
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([guid]) => ({ ...this.objects.get(guid)!, value: Buffer.alloc(0) }));
  }

  async diverted(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    if (limit <= 0) return out;
    this.pointers.walk(after ?? '', (id) => {
      if (id === after) return true;
      out.push({ ...this.objects.get(id)!, value: Buffer.alloc(0) });
      return out.length < limit;
    });
    return out;
  }

  private tally(o: StoredObject | undefined, sign: 1 | -1): void {
    if (!o) return;
    this.tree.apply(o, sign);
    if (o.divertedTo) {
      if (sign > 0) this.pointers.insert(o.guid);
      else this.pointers.delete(o.guid);
    }
    if (o.tombstone) {
      if (sign > 0) this.dead.set(o.guid, o.createdAt);
      else this.dead.delete(o.guid);
      return;
    }
    this.live.objects += sign;
    if (!o.divertedTo) this.live.bytes += sign * o.size;
  }
}

function copy(o: StoredObject): StoredObject {
  return { ...o, value: Buffer.from(o.value) };
}

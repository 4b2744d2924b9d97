import type { Id } from '../core/id';
import { SortedIds } from './sorted-ids';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';

/** The embedded default: a map plus a sorted index of the GUIDs for range reads. */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly objects = new Map<Id, StoredObject>();
  private readonly keys = new SortedIds();
  private live = { objects: 0, bytes: 0 };

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

  private tally(o: StoredObject | undefined, sign: 1 | -1): void {
    if (!o || o.tombstone) return;
    this.live.objects += sign;
    this.live.bytes += sign * o.size;
  }
}

function copy(o: StoredObject): StoredObject {
  return { ...o, value: Buffer.from(o.value) };
}

import type { Id } from '../core/id';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';

/** The embedded default: a map plus a sorted key index for range reads. */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly objects = new Map<Id, StoredObject>();
  private readonly keys: Id[] = [];
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
    if (!old) this.keys.splice(lowerBound(this.keys, object.guid), 0, object.guid);
    this.tally(old, -1);
    this.objects.set(object.guid, copy(object));
    this.tally(object, 1);
  }

  async delete(guid: Id): Promise<boolean> {
    const old = this.objects.get(guid);
    if (!old) return false;
    this.objects.delete(guid);
    this.tally(old, -1);
    this.keys.splice(lowerBound(this.keys, guid), 1);
    return true;
  }

  async range(from: Id, to: Id, limit: number, options: RangeOptions = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const collect = (start: number, end: Id): void => {
      for (let i = start; i < this.keys.length && this.keys[i]! <= end && out.length < limit; i++) {
        const o = this.objects.get(this.keys[i]!)!;
        out.push(options.values === false ? { ...o, value: Buffer.alloc(0) } : copy(o));
      }
    };
    if (from <= to) {
      collect(lowerBound(this.keys, from), to);
    } else {
      collect(lowerBound(this.keys, from), 'f'.repeat(32));
      collect(0, to);
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

function copy(o: StoredObject): StoredObject {
  return { ...o, value: Buffer.from(o.value) };
}

import type { Id } from '../core/id';
import type { RangeOptions, Store, StoredObject } from './store';

/** The embedded default: a map plus a sorted key index for range reads. */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly objects = new Map<Id, StoredObject>();
  private readonly keys: Id[] = [];

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
    if (!this.objects.has(object.guid)) this.keys.splice(lowerBound(this.keys, object.guid), 0, object.guid);
    this.objects.set(object.guid, copy(object));
  }

  async delete(guid: Id): Promise<boolean> {
    if (!this.objects.delete(guid)) return false;
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

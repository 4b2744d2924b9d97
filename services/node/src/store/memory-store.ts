import type { Id } from '../core/id';
import { readMeta, readShort, skipShort, metaLength, shortLength, writeMeta, writeShort, type ObjectMeta } from './record';
import { SortedIds, SortedMap } from './sorted-ids';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';
import { LeafTable, type LeafDigest } from './tree';

/** Slabs the small records are packed into; a location is slab × SLAB_BYTES + offset. */
const SLAB_BYTES = 64 * 1024;
/** Records larger than this get a buffer of their own instead of a place in a slab. */
const OWN_BUFFER_BYTES = 8 * 1024;
/** Emptied slabs kept for reuse rather than given back to the allocator. */
const SPARE_SLABS = 2;

/** A large record: its header (length, GUID, metadata) and its value apart. */
interface Own {
  head: Buffer;
  value: Buffer;
}
type Location = number | Own;

interface Slab {
  buf: Buffer;
  /** Bytes written from the start; records are laid end to end. */
  used: number;
  /** Bytes of records still current. */
  live: number;
}

/**
 * The embedded default. Each object is one packed record (length, GUID, metadata as in
 * record.ts, value) in 64 KiB slabs, found through one index sorted by GUID that serves
 * lookups and range reads alike: an object costs its bytes, its GUID's string and an index
 * slot, not a JavaScript object, three strings, a Buffer and a hash-table entry besides
 * (under 300 bytes beyond the value instead of 560). A slab that falls to half live is
 * compacted: its current records move to the slab being filled. A record over 8 KiB keeps its
 * header in a buffer of its own and its value as it was handed in (see `keepable`). The hash
 * tree's leaves and the tombstones by GUID are kept as objects are written.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  /** Where each object's record is, in GUID order: a slab location, or a large one's header and value. */
  private readonly objects = new SortedMap<Location>();
  private readonly slabs: (Slab | undefined)[] = [];
  private readonly spare: Buffer[] = [];
  private filling = -1;
  private live = { objects: 0, bytes: 0 };
  private readonly tree = new LeafTable();
  private readonly dead = new Map<Id, number>();
  private readonly pointers = new SortedIds();
  private readonly files = new SortedIds();

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  healthy(): boolean {
    return true;
  }

  async get(guid: Id): Promise<StoredObject | undefined> {
    const at = this.objects.get(guid);
    return at === undefined ? undefined : this.decode(guid, at, true);
  }

  async put(object: StoredObject): Promise<void> {
    const old = this.objects.get(object.guid);
    if (old !== undefined) this.tally(object.guid, this.decode(object.guid, old, false), -1);
    // The new record is in place before the old one's room is freed: freeing may compact
    // the old slab, which moves whatever the map still points at.
    this.objects.set(object.guid, this.write(object));
    if (old !== undefined) this.release(old);
    this.tally(object.guid, object, 1);
  }

  async delete(guid: Id): Promise<boolean> {
    const old = this.objects.get(guid);
    if (old === undefined) return false;
    this.tally(guid, this.decode(guid, old, false), -1);
    this.objects.delete(guid);
    this.release(old);
    return true;
  }

  async range(from: Id, to: Id, limit: number, options: RangeOptions = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const values = options.values !== false;
    const collect = (start: Id, end: Id): void => {
      if (out.length >= limit) return;
      this.objects.walk(start, (id, at) => {
        if (id > end) return false;
        out.push(this.decode(id, at, values));
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
      .map(([guid]) => this.decode(guid, this.objects.get(guid)!, false));
  }

  async diverted(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    return this.indexed(this.pointers, after, limit);
  }

  async divertedFiles(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    return this.indexed(this.files, after, limit);
  }

  /** Metadata of the GUIDs in `index` above `after`, at most `limit`. */
  private indexed(index: SortedIds, after: Id | undefined, limit: number): StoredObject[] {
    const out: StoredObject[] = [];
    if (limit <= 0) return out;
    index.walk(after ?? '', (id) => {
      if (id === after) return true;
      out.push(this.decode(id, this.objects.get(id)!, false));
      return out.length < limit;
    });
    return out;
  }

  /** Bytes held in slabs, live or not (tests, benchmarks); large records are outside them. */
  footprint(): { slabs: number; slabBytes: number; liveBytes: number } {
    const slabs = this.slabs.filter((s): s is Slab => s !== undefined);
    return { slabs: slabs.length, slabBytes: slabs.length * SLAB_BYTES, liveBytes: slabs.reduce((n, s) => n + s.live, 0) };
  }

  private tally(guid: Id, o: ObjectMeta, sign: 1 | -1): void {
    this.tree.apply({ guid, version: o.version, writer: o.writer, tombstone: o.tombstone }, sign);
    if (o.divertedTo) {
      if (sign > 0) this.pointers.insert(guid);
      else this.pointers.delete(guid);
    }
    if (o.divertedFrom) {
      if (sign > 0) this.files.insert(guid);
      else this.files.delete(guid);
    }
    if (o.tombstone) {
      if (sign > 0) this.dead.set(guid, o.createdAt);
      else this.dead.delete(guid);
      return;
    }
    this.live.objects += sign;
    if (!o.divertedTo) this.live.bytes += sign * o.size;
  }

  /** Packs `o` as [u32 length][GUID][metadata][value] where it fits; returns its location. */
  private write(o: StoredObject): Location {
    const length = 4 + shortLength(o.guid) + metaLength(o) + o.value.length;
    if (length > OWN_BUFFER_BYTES) {
      const headLength = length - o.value.length;
      const head = Buffer.allocUnsafeSlow(headLength);
      head.writeUInt32BE(headLength, 0);
      writeMeta(o, head, writeShort(o.guid, head, 4));
      return { head, value: keepable(o.value) ? o.value : copyOf(o.value) };
    }
    let slab = this.slabs[this.filling];
    if (!slab || slab.used + length > SLAB_BYTES) slab = this.slabs[this.newSlab()]!;
    const at = slab.used;
    this.pack(o, slab.buf, at, length);
    slab.used += length;
    slab.live += length;
    return this.filling * SLAB_BYTES + at;
  }

  private pack(o: StoredObject, target: Buffer, at: number, length: number): void {
    target.writeUInt32BE(length, at);
    const end = writeMeta(o, target, writeShort(o.guid, target, at + 4));
    o.value.copy(target, end);
  }

  private newSlab(): number {
    let index = this.slabs.indexOf(undefined);
    if (index < 0) index = this.slabs.length;
    this.slabs[index] = { buf: this.spare.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES), used: 0, live: 0 };
    this.filling = index;
    return index;
  }

  /** Frees a record's room; a slab left half live has its current records moved out. */
  private release(at: Location): void {
    if (typeof at !== 'number') return;
    const index = Math.floor(at / SLAB_BYTES);
    const slab = this.slabs[index]!;
    slab.live -= slab.buf.readUInt32BE(at - index * SLAB_BYTES);
    if (index === this.filling) return;
    if (slab.live === 0) this.dropSlab(index);
    else if (slab.live * 2 < slab.used) this.compact(index);
  }

  private compact(index: number): void {
    const slab = this.slabs[index]!;
    for (let offset = 0; offset < slab.used; ) {
      const length = slab.buf.readUInt32BE(offset);
      const [guid] = readShort(slab.buf, offset + 4);
      const location = index * SLAB_BYTES + offset;
      if (this.objects.get(guid) === location) {
        let target = this.slabs[this.filling];
        if (!target || target.used + length > SLAB_BYTES) target = this.slabs[this.newSlab()]!;
        slab.buf.copy(target.buf, target.used, offset, offset + length);
        this.objects.set(guid, this.filling * SLAB_BYTES + target.used);
        target.used += length;
        target.live += length;
      }
      offset += length;
    }
    this.dropSlab(index);
  }

  private dropSlab(index: number): void {
    const slab = this.slabs[index]!;
    if (this.spare.length < SPARE_SLABS) this.spare.push(slab.buf);
    this.slabs[index] = undefined;
    while (this.slabs.length > 0 && this.slabs[this.slabs.length - 1] === undefined) this.slabs.pop();
  }

  private decode(guid: Id, at: Location, values: boolean): StoredObject {
    if (typeof at !== 'number') {
      const [meta] = readMeta(at.head, skipShort(at.head, 4));
      // A large value is never written to once stored (a new write brings a new one): the
      // value itself will do.
      return { guid, value: values ? at.value : Buffer.alloc(0), ...meta };
    }
    const index = Math.floor(at / SLAB_BYTES);
    const buf = this.slabs[index]!.buf;
    const offset = at - index * SLAB_BYTES;
    const end = offset + buf.readUInt32BE(offset);
    const [meta, valueAt] = readMeta(buf, skipShort(buf, offset + 4));
    // A copy: the record may move when its slab is compacted.
    const value = values ? Buffer.from(buf.subarray(valueAt, end)) : Buffer.alloc(0);
    return { guid, value, ...meta };
  }
}

/**
 * A large value is kept as it came (a view of the message it arrived in, or the chunk a file
 * upload cut), not copied, when the memory behind it is not much larger than the value:
 * nothing writes to a value once it is handed to the store, and the bound keeps a small
 * value from pinning a large read buffer it shares.
 */
function keepable(value: Buffer): boolean {
  return value.buffer.byteLength <= 2 * value.length;
}

function copyOf(value: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(value.length);
  value.copy(out);
  return out;
}

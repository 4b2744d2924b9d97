import type { Id } from '../core/id';
import { compareVersions } from '../core/replicas';
import { ResourceExhaustedError, UnavailableError } from '../errors';
import type { Store, StoredObject } from '../store/store';
import { sha256 } from './guid';

/** Written; or not, because the stored copy is this very version, or newer. */
export type ApplyResult = 'applied' | 'same' | 'newer';

/**
 * The node's store seen as a set of replicas: writes apply last-writer-wins, one at a time
 * per GUID, and reads verify the bytes against their hash (and a content address).
 */
export class ReplicaStore {
  private readonly locks = new Map<Id, Promise<unknown>>();
  /** Bytes of writes under way (checked for room, not yet in the store's usage). */
  private reserved = 0;
  /**
   * Runs after a newer copy is written and after a copy is dropped, inside the object's
   * lock and before the write is confirmed: the DHT revokes cache leases here.
   */
  onChange: ((guid: Id, newer: { version: number; writer: Id; tombstone: boolean }) => Promise<void>) | undefined;
  /** Follows a diversion pointer to the copy it stands for (set by the DHT's diversion). */
  resolver: ((pointer: StoredObject) => Promise<StoredObject>) | undefined;

  constructor(
    readonly store: Store,
    /** Value bytes of live objects held at most; 0: no limit. */
    readonly capacityBytes = 0,
  ) {}

  healthy(): boolean {
    return this.store.healthy();
  }

  /**
   * Writes `object` unless the (intact) stored copy is as new or newer. A diversion pointer
   * to the same version gives way to the copy when there is room for it. `maxUtilization`
   * (of the capacity) bounds the write further: diverted copies leave room for the node's own.
   */
  apply(object: StoredObject, maxUtilization = 1): Promise<{ result: ApplyResult; previous: StoredObject | undefined }> {
    return this.withLock(object.guid, async () => {
      this.checkHealthy();
      const previous = await this.store.get(object.guid);
      // Hash the stored bytes only when they would win: a corrupt copy never does.
      const order = previous ? compareVersions(previous, object) : -1;
      const kept = (order > 0 || (order === 0 && !previous!.divertedTo)) && isIntact(previous!);
      if (kept) return { result: order > 0 ? ('newer' as const) : ('same' as const), previous };
      const growth = this.checkRoom(object, previous, maxUtilization);
      // Writes of other GUIDs run meanwhile: each counts the room the others are taking.
      this.reserved += growth;
      try {
        await this.store.put(object);
      } finally {
        this.reserved -= growth;
      }
      // The copy taking its own pointer's place changes nothing a cache holds.
      if (!(order === 0 && previous!.divertedTo)) await this.onChange?.(object.guid, object);
      return { result: 'applied' as const, previous };
    });
  }

  /**
   * Keeps a pointer to `holder` in place of `object` (which it stores): unless the stored
   * copy is as new or newer. Returns whether the pointer was written.
   */
  applyPointer(object: StoredObject, holder: Id): Promise<boolean> {
    return this.withLock(object.guid, async () => {
      this.checkHealthy();
      const previous = await this.store.get(object.guid);
      const order = previous ? compareVersions(previous, object) : -1;
      // A pointer to the same version may move to another holder; a copy stays.
      if ((order > 0 || (order === 0 && !previous!.divertedTo)) && isIntact(previous!)) return false;
      await this.store.put({ ...object, value: EMPTY, divertedTo: holder });
      await this.onChange?.(object.guid, object);
      return true;
    });
  }

  /** The share of the capacity live values fill, writes in flight counted; 0 with no capacity bound. */
  utilization(): number {
    return this.capacityBytes <= 0 ? 0 : (this.store.usage().bytes + this.reserved) / this.capacityBytes;
  }

  /** Whether `bytes` more would fit under `maxUtilization` of the capacity. */
  hasRoom(bytes: number, maxUtilization = 1): boolean {
    return this.capacityBytes <= 0 || this.store.usage().bytes + bytes <= this.capacityBytes * maxUtilization;
  }

  /**
   * The stored copy if present and intact; a corrupt copy reads as absent. A diversion
   * pointer is followed to the copy it stands for (UNAVAILABLE when that copy cannot be
   * read) unless `pointers` asks for the pointer itself (metadata is all the caller needs).
   */
  async read(guid: Id, pointers = false): Promise<{ object: StoredObject | undefined; corrupt: boolean }> {
    this.checkHealthy();
    const object = await this.store.get(guid);
    if (!object) return { object: undefined, corrupt: false };
    if (!isIntact(object)) return { object: undefined, corrupt: true };
    if (object.divertedTo && !pointers && this.resolver) return { object: await this.resolver(object), corrupt: false };
    return { object, corrupt: false };
  }

  /** Drops a copy unless it changed since `expected` was read. */
  dropIfUnchanged(expected: { guid: Id; version: number; writer: Id; tombstone: boolean }): Promise<boolean> {
    return this.withLock(expected.guid, async () => {
      const current = await this.store.get(expected.guid);
      if (!current || compareVersions(current, expected) !== 0) return false;
      const deleted = await this.store.delete(expected.guid);
      // No copy here any more: no lease of this node's may outlive it.
      if (deleted) await this.onChange?.(expected.guid, DROPPED);
      return deleted;
    });
  }

  /** A write that grows the live bytes past the capacity is refused; tombstones and shrinking writes never are. */
  /** Throws when `object` would not fit; returns the bytes it adds (0 when it adds none). */
  private checkRoom(object: StoredObject, previous: StoredObject | undefined, maxUtilization: number): number {
    if (this.capacityBytes <= 0 || object.tombstone) return 0;
    const growth = object.size - (previous && !previous.tombstone && !previous.divertedTo ? previous.size : 0);
    const used = this.store.usage().bytes + this.reserved;
    const limit = Math.floor(this.capacityBytes * maxUtilization);
    if (growth > 0 && used + growth > limit) {
      throw new ResourceExhaustedError(`this node's store is full: ${used} of ${limit} bytes used, ${growth} more asked`);
    }
    return Math.max(growth, 0);
  }

  /** Throws UNAVAILABLE while the store cannot be used. */
  checkHealthy(): void {
    if (!this.store.healthy()) throw new UnavailableError(`this node's ${this.store.kind} store is unavailable`);
  }

  private async withLock<T>(guid: Id, fn: () => Promise<T>): Promise<T> {
    const prior = this.locks.get(guid) ?? Promise.resolve();
    const run = prior.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(guid, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(guid) === tail) this.locks.delete(guid);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Newer than any copy: revoking with it drops every cached copy. */
const DROPPED = { version: Number.MAX_SAFE_INTEGER, writer: 'f'.repeat(32), tombstone: true };

/** Bytes match the recorded hash, and a content-addressed GUID. Tombstones and pointers have no bytes to check. */
export function isIntact(o: StoredObject): boolean {
  if (o.tombstone || o.divertedTo) return true;
  const hash = sha256(o.value).toString('hex');
  if (hash !== o.hash) return false;
  return !o.contentAddressed || hash.slice(0, 32) === o.guid;
}

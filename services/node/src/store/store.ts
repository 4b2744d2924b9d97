import type { Id } from '../core/id';
import type { LeafDigest } from './tree';

/** One object with its metadata, as every store keeps it. */
export interface StoredObject {
  guid: Id;
  value: Buffer;
  /** Grows with every write of a named object; last writer wins by (version, writer). */
  version: number;
  /** Id of the node that coordinated the write. */
  writer: Id;
  /** Hex SHA-256 of the value. */
  hash: string;
  size: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** A removed object: kept so that no copy brings it back. */
  tombstone: boolean;
  /** The GUID is SHA-256(value)[0:16]. */
  contentAddressed: boolean;
  /**
   * A replica diverted for lack of room (PAST's replica diversion): this node keeps only a
   * pointer, value empty, and the node with this id holds the copy. Its bytes do not count
   * in the usage.
   */
  divertedTo?: Id;
  /**
   * A file diverted for lack of room in its whole neighbourhood (PAST's file diversion):
   * this record, value empty, says the object lives under this salted GUID instead.
   */
  redirect?: Id;
  /**
   * This object is a diverted file (PAST's file diversion) stored under a salted GUID for
   * the object with this GUID, whose redirect names it: it is kept only while that redirect
   * does.
   */
  divertedFrom?: Id;
}

export interface RangeOptions {
  /** false: metadata only, value left empty (anti-entropy scans). */
  values?: boolean;
}

/**
 * Storage of one node. Objects are ordered by GUID so that any ring range can be read
 * cheaply (handoff and anti-entropy read ranges). Values are read-only on both sides: a
 * store may keep a large value it was given, and hand out the one it keeps, without a copy
 * (the memory store does for values over 8 KiB), so no caller writes into either.
 */
export interface Store {
  readonly kind: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  get(guid: Id): Promise<StoredObject | undefined>;
  put(object: StoredObject): Promise<void>;
  delete(guid: Id): Promise<boolean>;
  /**
   * Objects with from <= guid <= to in ring order, at most `limit`. When from > to the range
   * wraps past the top of the ring.
   */
  range(from: Id, to: Id, limit: number, options?: RangeOptions): Promise<StoredObject[]>;
  count(): Promise<number>;
  /**
   * Live objects (tombstones excluded) and the bytes of their values, kept by the store
   * itself as it writes, so nobody mirrors its contents in memory to count them. A store
   * that is unreachable reports what it last knew.
   */
  usage(): StoreUsage;
  /**
   * The hash tree's leaf digests (store/tree.ts), non-empty buckets only, kept by the store
   * as it writes: anti-entropy compares replicas by them without reading every object.
   */
  leaves(): Promise<Map<number, LeafDigest>>;
  /** Tombstones created at or before `before` (ms), oldest first, at most `limit`, values empty. */
  tombstones(before: number, limit: number): Promise<StoredObject[]>;
  /** Diversion pointers with GUID above `after` (all when undefined), in GUID order, at most `limit`, values empty. */
  diverted(after: Id | undefined, limit: number): Promise<StoredObject[]>;
  /** Diverted files (`divertedFrom` set) with GUID above `after` (all when undefined), in GUID order, at most `limit`, values empty. */
  divertedFiles(after: Id | undefined, limit: number): Promise<StoredObject[]>;
  /** False while the backing service is unreachable. */
  healthy(): boolean;
}

export interface StoreUsage {
  objects: number;
  bytes: number;
}

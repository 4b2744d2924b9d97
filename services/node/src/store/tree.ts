import { createHash } from 'node:crypto';
import type { Id } from '../core/id';

/**
 * The store's hash tree: the ring cut into 16^LEAF_DIGITS buckets by GUID prefix, each
 * summarised by the XOR of its objects' item hashes and their count. XOR lets a write
 * update its bucket in O(1) (out with the old version's hash, in with the new), and lets
 * any run of buckets, and so any tree level, be combined on demand.
 */
export const LEAF_DIGITS = 3;
export const LEAVES = 16 ** LEAF_DIGITS;
export const DIGEST_BYTES = 16;

export interface LeafDigest {
  /** XOR of itemHash over the bucket's objects (tombstones included). */
  digest: Buffer;
  count: number;
}

/** What a replica's copy of an object is, for comparison: identity and version, not the value. */
export interface ItemKey {
  guid: Id;
  version: number;
  writer: Id;
  tombstone: boolean;
}

/**
 * First 16 bytes of SHA-1 over `guid:version:writer:tombstone`. The Redis store computes
 * the same string with redis.sha1hex inside its write scripts, so both stores agree.
 */
export function itemHash(o: ItemKey): Buffer {
  return createHash('sha1').update(`${o.guid}:${o.version}:${o.writer}:${o.tombstone ? 1 : 0}`).digest().subarray(0, DIGEST_BYTES);
}

export function leafOf(guid: Id): number {
  return parseInt(guid.slice(0, LEAF_DIGITS), 16);
}

/** First and last GUID of a leaf bucket. */
export function leafBounds(leaf: number): { from: Id; to: Id } {
  const prefix = leaf.toString(16).padStart(LEAF_DIGITS, '0');
  return { from: prefix.padEnd(32, '0'), to: prefix.padEnd(32, 'f') };
}

export function xorInto(target: Buffer, h: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) target[i]! ^= h[i]!;
}

/**
 * In-memory upkeep of the leaf digests, for a store that keeps its tree in process: one
 * buffer of digests and one array of counts, a fixed 80 KiB, rather than an object and a
 * Buffer per leaf.
 */
export class LeafTable {
  private readonly digests = Buffer.alloc(LEAVES * DIGEST_BYTES);
  private readonly counts = new Float64Array(LEAVES);

  /** Accounts `o` in (+1) or out (-1) of its bucket. */
  apply(o: ItemKey, sign: 1 | -1): void {
    const leaf = leafOf(o.guid);
    const h = itemHash(o);
    const base = leaf * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i++) this.digests[base + i]! ^= h[i]!;
    this.counts[leaf]! += sign;
  }

  snapshot(): Map<number, LeafDigest> {
    const out = new Map<number, LeafDigest>();
    for (let leaf = 0; leaf < LEAVES; leaf++) {
      const count = this.counts[leaf]!;
      if (count !== 0) out.set(leaf, { digest: Buffer.from(this.digests.subarray(leaf * DIGEST_BYTES, (leaf + 1) * DIGEST_BYTES)), count });
    }
    return out;
  }

  clear(): void {
    this.digests.fill(0);
    this.counts.fill(0);
  }
}

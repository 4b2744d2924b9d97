import { createHash } from 'node:crypto';
import { fromBigInt, toBigInt, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { compareVersions } from '../core/replicas';
import { REPLICATION } from '../constants';
import type { DigestBucket, SyncDigestRequest, SyncDigestResponse } from '../gen/pastry/v1/dht_peer';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { fromNodeInfo, toNodeInfo } from '../overlay/codec';
import { InvalidArgumentError } from '../errors';
import { callDht } from './peer-messages';
import type { StoredObject } from '../store/store';
import { fromMeta, toMeta, type Meta } from './records';
import type { ReplicaStore } from './replica-store';
import { batches, type Replication } from './replication';

export interface AntiEntropyConfig {
  replicas: number;
  intervalMs: number;
  tombstoneGraceMs: number;
  rpcTimeoutMs: number;
  /** Objects read from the store at a time (REPLICATION.scanPageObjects unless set). */
  scanPageObjects?: number;
}

/** Counters for metrics and tests. */
export interface AntiEntropyStats {
  rounds: number;
  repaired: number;
  handedOff: number;
  tombstonesCollected: number;
  /**
   * Objects found missing or stale on some replica in the last round, or whose replica did
   * not answer (unknown is not in sync).
   */
  underReplicated: number;
}

const MIN_ID = '0'.repeat(32);
const MAX_ID = 'f'.repeat(32);

/** One bounded page of the store, in GUID order: `from` and `to` bound the range it covers. */
interface Page {
  from: Id;
  to: Id;
  objects: StoredObject[];
}

/**
 * Keeps k replicas through joins, leaves and failures. Each round a node pages through its
 * store in GUID order and, for each page's range, compares with each leaf-set peer that
 * shares replicas with it hashed-bucket digests of the objects both should hold in that
 * range, and repairs the buckets that differ in both directions; objects the node is no
 * longer a replica of are handed to their replica set and dropped; old tombstones are
 * collected. No object count is too large: memory and message sizes are bounded by a page.
 */
export class AntiEntropy {
  readonly stats: AntiEntropyStats = { rounds: 0, repaired: 0, handedOff: 0, tombstonesCollected: 0, underReplicated: 0 };
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Set by stop(): a round in progress ends after the page it is on. */
  private stopping = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly local: ReplicaStore,
    private readonly replication: Replication,
    private readonly config: AntiEntropyConfig,
    private readonly clock: { now(): number },
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.cancelTimer) return;
    this.stopping = false;
    const arm = (): void => {
      this.cancelTimer = this.endpoint.setTimer(this.config.intervalMs, () => {
        void this.round().finally(() => {
          if (this.cancelTimer) arm();
        });
      });
    };
    arm();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    await this.running;
  }

  /** One round; overlapping calls share the round in progress. */
  round(): Promise<void> {
    this.running ??= this.runRound().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runRound(): Promise<void> {
    if (!this.endpoint.ready || !this.local.healthy()) return;
    try {
      let under = 0;
      let handoffBudget: number = REPLICATION.maxHandoffPerRound;
      for await (const page of this.pages()) {
        if (this.stopping) return;
        const now = this.clock.now();
        const live: StoredObject[] = [];
        for (const o of page.objects) {
          if (o.tombstone && o.createdAt + this.config.tombstoneGraceMs <= now) {
            if (await this.local.dropIfUnchanged(o)) this.stats.tombstonesCollected++;
          } else live.push(o);
        }
        const { perPeer, handoff } = this.classify(live);
        const unsure = new Set<Id>();
        const peers = [...perPeer.values()];
        for (let i = 0; i < peers.length; i += REPLICATION.syncFanout) {
          await Promise.all(peers.slice(i, i + REPLICATION.syncFanout).map(({ peer, objects: shared }) => this.syncWith(peer, shared, page, unsure)));
        }
        under += unsure.size;
        const batch = handoff.slice(0, handoffBudget);
        handoffBudget -= batch.length;
        await this.handOff(batch);
      }
      this.stats.underReplicated = under;
      this.stats.rounds++;
    } catch (error) {
      this.log.warn('antientropy_round_failed', { error: String(error) });
    }
  }

  /** The whole store in GUID order, one page at a time (values not read). */
  private async *pages(): AsyncGenerator<Page> {
    const size = this.config.scanPageObjects ?? REPLICATION.scanPageObjects;
    let from = MIN_ID;
    for (;;) {
      const objects = await this.local.store.range(from, MAX_ID, size, { values: false });
      const full = objects.length === size;
      const to = full ? objects[objects.length - 1]!.guid : MAX_ID;
      yield { from, to, objects };
      if (!full || to === MAX_ID) return;
      from = fromBigInt(toBigInt(to) + 1n);
    }
  }

  /** Which peer should share which object, and which objects this node no longer holds. */
  private classify(objects: StoredObject[]): {
    perPeer: Map<Id, { peer: NodeHandle; objects: StoredObject[] }>;
    handoff: { object: StoredObject; targets: NodeHandle[] }[];
  } {
    const perPeer = new Map<Id, { peer: NodeHandle; objects: StoredObject[] }>();
    const handoff: { object: StoredObject; targets: NodeHandle[] }[] = [];
    const self = this.endpoint.self.id;
    for (const o of objects) {
      const set = this.endpoint.replicaSet(o.guid, this.config.replicas);
      if (!set.some((n) => n.id === self)) {
        handoff.push({ object: o, targets: set });
        continue;
      }
      for (const n of set) {
        if (n.id === self) continue;
        let entry = perPeer.get(n.id);
        if (!entry) perPeer.set(n.id, (entry = { peer: n, objects: [] }));
        entry.objects.push(o);
      }
    }
    return { perPeer, handoff };
  }

  /**
   * Digest exchange with one peer over one page's range, then pushes and pulls. The objects
   * found out of date, or all shared ones when the peer did not answer, go into `unsure`.
   */
  private async syncWith(peer: NodeHandle, shared: StoredObject[], page: Page, unsure: Set<Id>): Promise<void> {
    const deadline = this.clock.now() + this.config.rpcTimeoutMs * 4;
    try {
      const mine = bucketize(shared);
      const whole = page.from === MIN_ID && page.to === MAX_ID;
      const rangeFrom = whole ? Buffer.alloc(0) : Buffer.from(page.from, 'hex');
      const rangeTo = whole ? Buffer.alloc(0) : Buffer.from(page.to, 'hex');
      const res = await callDht(this.endpoint, peer, 'syncDigest', { sender: toNodeInfo(this.endpoint.self), buckets: digestsOf(mine), rangeFrom, rangeTo }, deadline);
      if (res.differingBuckets.length === 0) return;
      const theirs = new Map<Id, Meta>(res.entries.map(fromMeta).map((m) => [m.guid, m]));
      const toPush: Id[] = [];
      for (const b of res.differingBuckets) {
        for (const o of mine.get(b)?.entries ?? []) {
          const t = theirs.get(o.guid);
          if (!t || compareVersions(o, t) > 0) toPush.push(o.guid);
        }
      }
      const mineByGuid = new Map(shared.map((o) => [o.guid, o]));
      const toPull = [...theirs.values()]
        .filter((t) => {
          const m = mineByGuid.get(t.guid);
          return (!m || compareVersions(t, m) > 0) && this.endpoint.replicaSet(t.guid, this.config.replicas).some((n) => n.id === this.endpoint.self.id);
        })
        .map((t) => t.guid);
      const limit = REPLICATION.maxRepairsPerPeerPerRound;
      const pushObjects = (await Promise.all(toPush.slice(0, limit).map((g) => this.local.read(g)))).map((r) => r.object).filter((o): o is StoredObject => o !== undefined);
      if (pushObjects.length > 0) await this.replication.push(peer, pushObjects, deadline);
      let pulled = 0;
      if (toPull.length > 0) {
        for (const o of await this.replication.fetch(peer, toPull.slice(0, limit), deadline)) {
          if ((await this.local.apply(o)).result === 'applied') pulled++;
        }
      }
      this.stats.repaired += pushObjects.length + pulled;
      if (pushObjects.length + pulled > 0) this.log.debug('antientropy_repaired', { peer: peer.name || peer.id, pushed: pushObjects.length, pulled });
      for (const g of toPush) unsure.add(g);
      for (const g of toPull) unsure.add(g);
    } catch (error) {
      this.log.debug('antientropy_sync_failed', { peer: peer.name || peer.id, error: String(error) });
      for (const o of shared) unsure.add(o.guid);
    }
  }

  /** Objects this node is no longer a replica of go to their replica set, then are dropped. */
  private async handOff(batch: { object: StoredObject; targets: NodeHandle[] }[]): Promise<void> {
    if (batch.length === 0) return;
    const deadline = this.clock.now() + this.config.rpcTimeoutMs * 4;
    const delivered = await this.pushAll(batch, deadline);
    for (const { object } of batch) {
      if (delivered.has(object.guid) && (await this.local.dropIfUnchanged(object))) this.stats.handedOff++;
    }
  }

  /**
   * Sends each object to all of its targets, in batched messages, one stream per target in
   * parallel. Returns the GUIDs that reached every target.
   */
  private async pushAll(items: { object: StoredObject; targets: NodeHandle[] }[], deadline: number): Promise<Set<Id>> {
    const full = new Map<Id, StoredObject>();
    for (let i = 0; i < items.length; i += REPLICATION.maxObjectsPerMessage) {
      const reads = await Promise.all(items.slice(i, i + REPLICATION.maxObjectsPerMessage).map(({ object }) => this.local.read(object.guid)));
      for (const r of reads) if (r.object) full.set(r.object.guid, r.object);
    }
    const byTarget = new Map<Id, { peer: NodeHandle; objects: StoredObject[] }>();
    for (const { object, targets } of items) {
      const o = full.get(object.guid);
      if (!o) continue;
      for (const t of targets) {
        let entry = byTarget.get(t.id);
        if (!entry) byTarget.set(t.id, (entry = { peer: t, objects: [] }));
        entry.objects.push(o);
      }
    }
    // Batch by batch: one failed message costs its own objects, not everything for that target.
    const failed = new Set<Id>();
    await Promise.all(
      [...byTarget.values()].map(async ({ peer, objects }) => {
        for (const batch of batches(objects)) {
          if (this.clock.now() >= deadline) {
            batch.forEach((o) => failed.add(o.guid));
            continue;
          }
          try {
            await this.replication.push(peer, batch, deadline);
          } catch {
            batch.forEach((o) => failed.add(o.guid));
          }
        }
      }),
    );
    return new Set([...full.keys()].filter((g) => !failed.has(g)));
  }

  /**
   * A graceful leave: every object goes to the replica set it has without this node, page
   * by page. Returns how many objects reached all of their targets and how many did not.
   */
  async handOffAll(deadline: number): Promise<{ handedOff: number; failed: number }> {
    let handedOff = 0;
    let failed = 0;
    for await (const page of this.pages()) {
      const items = page.objects.map((object) => ({ object, targets: this.endpoint.replicaSet(object.guid, this.config.replicas, this.endpoint.self.id) }));
      const delivered = await this.pushAll(items, deadline);
      handedOff += delivered.size;
      failed += page.objects.length - delivered.size;
    }
    return { handedOff, failed };
  }

  /** The receiving side of a digest exchange. */
  async handleSyncDigest(req: SyncDigestRequest): Promise<SyncDigestResponse> {
    const sender = fromNodeInfo(req.sender, 'sender');
    const ranged = req.rangeFrom.length > 0 || req.rangeTo.length > 0;
    if (ranged && (req.rangeFrom.length !== 16 || req.rangeTo.length !== 16)) throw new InvalidArgumentError('range_from and range_to must both be 16-byte GUIDs, or both empty');
    const from = ranged ? req.rangeFrom.toString('hex') : MIN_ID;
    const to = ranged ? req.rangeTo.toString('hex') : MAX_ID;
    // The sender's page bounds the range; what this node holds there is bounded as well.
    const inRange = await this.local.store.range(from, to, REPLICATION.maxDigestScanObjects, { values: false });
    const shared = inRange.filter((o) => this.endpoint.replicaSet(o.guid, this.config.replicas).some((n) => n.id === sender.id));
    const mine = bucketize(shared);
    const theirs = new Map<number, DigestBucket>(req.buckets.map((b) => [b.bucket, b]));
    const differing: number[] = [];
    for (let b = 0; b < REPLICATION.digestBuckets; b++) {
      const m = mine.get(b);
      const t = theirs.get(b);
      const same = m && t ? m.digest.equals(t.digest) && m.entries.length === t.count : !m && !t;
      if (!same) differing.push(b);
    }
    const entries = differing.flatMap((b) => mine.get(b)?.entries ?? []);
    return {
      entries: entries.slice(0, REPLICATION.maxDigestEntries).map(toMeta),
      differingBuckets: differing,
      truncated: entries.length > REPLICATION.maxDigestEntries,
    };
  }
}

interface Bucket {
  digest: Buffer;
  entries: StoredObject[];
}

/** GUIDs are hashes, so their last digits spread even a narrow ring range over all buckets. */
export function bucketOf(guid: Id): number {
  return parseInt(guid.slice(-4), 16) % REPLICATION.digestBuckets;
}

function bucketize(objects: StoredObject[]): Map<number, Bucket> {
  const buckets = new Map<number, Bucket>();
  for (const o of objects) {
    const b = bucketOf(o.guid);
    let bucket = buckets.get(b);
    if (!bucket) buckets.set(b, (bucket = { digest: Buffer.alloc(16), entries: [] }));
    const h = createHash('sha256').update(`${o.guid}:${o.version}:${o.writer}:${o.tombstone ? 1 : 0}`).digest();
    for (let i = 0; i < 16; i++) bucket.digest[i]! ^= h[i]!;
    bucket.entries.push(o);
  }
  return buckets;
}

function digestsOf(buckets: Map<number, Bucket>): DigestBucket[] {
  return [...buckets.entries()].map(([bucket, b]) => ({ bucket, digest: b.digest, count: b.entries.length }));
}

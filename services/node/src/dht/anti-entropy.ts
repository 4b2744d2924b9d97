import { createHash } from 'node:crypto';
import { fromBigInt, toBigInt, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { compareVersions } from '../core/replicas';
import { DIVERSION, REPLICATION } from '../constants';
import type { DigestBucket, SyncDigestRequest, SyncDigestResponse, SyncTreeRequest, SyncTreeResponse } from '../gen/pastry/v1/dht_peer';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { fromNodeInfo, toNodeInfo } from '../overlay/codec';
import { InvalidArgumentError, PastryError, UnavailableError } from '../errors';
import { DIGEST_BYTES, LEAF_DIGITS } from '../store/tree';
import { complement, inRanges, MAX_ID, mergeRanges, MIN_ID, replicaArcs, sharedRanges, type Arc, type Range } from './arcs';
import { sameSummary, TreeView } from './tree-view';
import { callDht } from './peer-messages';
import type { StoredObject } from '../store/store';
import { fromMeta, toMeta, type Meta } from './records';
import type { Diversion } from './diversion';
import type { ReplicaStore } from './replica-store';
import { batches, bounded, type Replication } from './replication';

/** How pushAll sends (see there). */
interface PushOptions {
  pointed?: Set<Id>;
  leaving?: boolean;
}

export interface AntiEntropyConfig {
  replicas: number;
  intervalMs: number;
  tombstoneGraceMs: number;
  rpcTimeoutMs: number;
  /** Objects read from the store at a time (REPLICATION.scanPageObjects unless set). */
  scanPageObjects?: number;
  /** A differing range this small is compared entry by entry (REPLICATION.entrySyncObjects unless set). */
  entrySyncObjects?: number;
  /** Value bytes read ahead of a push (REPLICATION.pushWindowBytes unless set). */
  pushWindowBytes?: number;
  /** Objects repaired per peer per round (REPLICATION.maxRepairsPerPeerPerRound unless set). */
  repairsPerPeerPerRound?: number;
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


/** One bounded page of the store, in GUID order: `from` and `to` bound the range it covers. */
interface Page {
  from: Id;
  to: Id;
  objects: StoredObject[];
}

/**
 * Keeps k replicas through joins, leaves and failures. Each round a node works out, from its
 * leaf set, the ring ranges it replicates and with whom (arcs.ts); compares each range with
 * each peer by hash-tree summaries the store keeps up to date on every write (store/tree.ts),
 * descending only into ranges that differ, and repairs those in both directions; hands the
 * objects outside its ranges to their replica set; and collects old tombstones from the
 * store's tombstone index. An idle round costs one small message per peer, whatever the
 * store holds; a repair costs messages in proportion to the differences.
 */
export class AntiEntropy {
  readonly stats: AntiEntropyStats = { rounds: 0, repaired: 0, handedOff: 0, tombstonesCollected: 0, underReplicated: 0 };
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Set by stop(): a round in progress ends after the page it is on. */
  private stopping = false;
  /** The last round ran out of budget (repairs, handoff, tombstones): the next one comes soon. */
  private backlog = false;
  /**
   * Copies held for a full replica that points here (diverted copies): offered again only
   * after DIVERSION.recheckMs, so that they do not fill every round's handoff.
   */
  private readonly parked = new Map<Id, number>();

  /**
   * Nodes handing their objects over before they leave, and until when: counted out of
   * replica sets by the handoff meanwhile (`ring`), so that what they hand this node is kept,
   * not handed back to a replica set that still holds them.
   */
  private readonly leaving = new Map<Id, number>();

  /** Checks, each round, the diverted files this node is the root of (the DHT's). */
  divertedFiles: ((deadline: number) => Promise<unknown>) | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly local: ReplicaStore,
    private readonly replication: Replication,
    private readonly config: AntiEntropyConfig,
    private readonly clock: { now(): number },
    private readonly log: Logger,
    /** Checks this node's diversion pointers each round. */
    private readonly diversion?: Diversion,
  ) {}

  /** The ring as replicas see it: the endpoint's view without the nodes under way out. */
  private get ring(): Pick<Endpoint, 'self' | 'leafSet' | 'replicaSet'> {
    const endpoint = this.endpoint;
    if (!this.pruneLeaving()) return endpoint;
    const leaving = this.leaving;
    return {
      self: endpoint.self,
      leafSet: () => endpoint.leafSet().filter((n) => !leaving.has(n.id)),
      // Exact while k - 1 plus the nodes leaving stay within half the leaf set.
      replicaSet: (key, k, exclude) =>
        endpoint
          .replicaSet(key, k + leaving.size, exclude)
          .filter((n) => !leaving.has(n.id))
          .slice(0, k),
    };
  }

  /**
   * `id` hands its objects over before it leaves, and is gone within `ms`: until then this
   * node counts it out of replica sets.
   */
  departing(id: Id, ms: number): void {
    if (id === this.endpoint.self.id || ms <= 0) return;
    const until = this.clock.now() + Math.min(ms, REPLICATION.maxLeavingMs) + REPLICATION.leavingMarginMs;
    this.leaving.set(id, Math.max(until, this.leaving.get(id) ?? 0));
  }

  /**
   * Forgets leaves that are over: past their time, or (`gone`) no longer in the leaf set, so
   * that a node that comes back with the same id is counted again. Whether any remain.
   */
  private pruneLeaving(gone = false): boolean {
    if (this.leaving.size === 0) return false;
    const now = this.clock.now();
    const members = gone ? new Set(this.endpoint.leafSet().map((n) => n.id)) : undefined;
    for (const [id, until] of this.leaving) if (until <= now || (members && !members.has(id))) this.leaving.delete(id);
    return this.leaving.size > 0;
  }

  start(): void {
    if (this.cancelTimer) return;
    this.stopping = false;
    const arm = (): void => {
      const wait = this.backlog ? Math.min(REPLICATION.backlogPauseMs, this.config.intervalMs) : this.config.intervalMs;
      this.cancelTimer = this.endpoint.setTimer(wait, () => {
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
    this.backlog = false;
    if (!this.endpoint.ready || !this.local.healthy()) return;
    try {
      await this.collectTombstones();
      if (this.stopping) return;
      // Ranges are compared with the ring as it is: a node under way out still answers, and
      // what it hands over would otherwise be pulled from the other replicas at the same time.
      const arcs = replicaArcs(this.endpoint, this.config.replicas);
      const unsure: Unsure = { ranges: [], guids: new Set() };
      // What one peer's sync pulls, the others' skip: replicas of the same ranges hold the same objects.
      const claimed = new Set<Id>();
      const peers = sharedRanges(arcs);
      for (let i = 0; i < peers.length; i += REPLICATION.syncFanout) {
        if (this.stopping) return;
        await Promise.all(peers.slice(i, i + REPLICATION.syncFanout).map(({ peer, ranges }) => this.syncTree(peer, ranges, unsure, claimed)));
      }
      this.stats.underReplicated = await countUnsure(unsure, await this.tree());
      if (this.stopping) return;
      if (this.diversion) this.stats.underReplicated += await this.diversion.maintain(this.clock.now() + this.config.rpcTimeoutMs * 4);
      if (this.stopping) return;
      if (this.divertedFiles) await this.divertedFiles(this.clock.now() + this.config.rpcTimeoutMs * 4);
      if (this.stopping) return;
      // What is handed off counts it out: its handoff lands here and must stay.
      await this.handOffOutside(this.pruneLeaving(true) ? replicaArcs(this.ring, this.config.replicas) : arcs);
      this.stats.rounds++;
    } catch (error) {
      this.log.warn('antientropy_round_failed', { error: String(error) });
    }
  }

  private get pageSize(): number {
    return this.config.scanPageObjects ?? REPLICATION.scanPageObjects;
  }

  /** Tombstones past their grace, a page a round, read from the store's tombstone index. */
  private async collectTombstones(): Promise<void> {
    const old = await this.local.store.tombstones(this.clock.now() - this.config.tombstoneGraceMs, this.pageSize);
    if (old.length === this.pageSize) this.backlog = true;
    for (const o of old) {
      if (this.stopping) return;
      if (await this.local.dropIfUnchanged(o)) this.stats.tombstonesCollected++;
    }
  }

  private tree(): Promise<TreeView> {
    return TreeView.of(this.local.store, REPLICATION.maxDigestScanObjects);
  }

  /**
   * Compares the ranges this node shares with `peer` by hash-tree summaries, splitting the
   * ranges that differ by the next GUID digit until they are small, then repairs those
   * entry by entry, within the round's repair budget. What could not be compared or
   * repaired goes into `unsure`.
   *
   * Under a steady write load most leaves take a write every second or so, and a write on
   * its way to both replicas makes a leaf differ for a moment. So each message compares a
   * fresh snapshot (not one from the round's start, which every later write would
   * contradict), and a small range that differs is compared once more before it is read
   * entry by entry: only a difference that lasts costs a scan.
   */
  private async syncTree(peer: NodeHandle, ranges: Range[], unsure: Unsure, claimed: Set<Id>): Promise<void> {
    const deadline = this.clock.now() + this.config.rpcTimeoutMs * 4;
    const sender = toNodeInfo(this.endpoint.self);
    const budget: Budget = { objects: this.config.repairsPerPeerPerRound ?? REPLICATION.maxRepairsPerPeerPerRound, bytes: REPLICATION.maxRepairBytesPerPeerPerRound };
    // Where in the differing ranges this round starts: another round working on the same
    // ranges at the same time (the peer's, or this node's with another replica of them)
    // mostly repairs other objects, not these again.
    const start = rotationOf(this.endpoint.self.id, peer.id, this.stats.rounds);
    let level: Pending[] = ranges;
    while (level.length > 0) {
      level = rotate(level, start);
      const next: Pending[] = [];
      for (let i = 0; i < level.length; i += REPLICATION.maxTreeRanges) {
        if (this.stopping) return;
        const chunk = level.slice(i, i + REPLICATION.maxTreeRanges);
        const tree = await this.tree();
        const mine = await Promise.all(chunk.map((r) => tree.summary(r.from, r.to)));
        let res: SyncTreeResponse;
        try {
          const request = chunk.map((r, j) => ({ from: Buffer.from(r.from, 'hex'), to: Buffer.from(r.to, 'hex'), digest: mine[j]!.digest, count: mine[j]!.count }));
          res = await callDht(this.endpoint, peer, 'syncTree', { sender, ranges: request }, deadline);
          if (res.same.length !== chunk.length || res.counts.length !== chunk.length) throw new PastryError(`answered ${res.same.length} ranges of ${chunk.length}`);
          this.diversion?.observe(peer.id, res.utilization?.share);
        } catch (error) {
          this.log.debug('antientropy_sync_failed', { peer: peer.name || peer.id, error: String(error) });
          unsure.ranges.push(...level.slice(i), ...next);
          return;
        }
        for (let j = 0; j < chunk.length; j++) {
          if (res.same[j]) continue;
          const r = chunk[j]!;
          const children = Math.max(mine[j]!.count, Number(res.counts[j])) > (this.config.entrySyncObjects ?? REPLICATION.entrySyncObjects) ? splitRange(r) : undefined;
          if (children) next.push(...children);
          else if (!r.confirm) next.push({ from: r.from, to: r.to, confirm: true });
          else if (budget.objects > 0 && budget.bytes > 0) {
            const shared = await this.local.store.range(r.from, r.to, REPLICATION.maxDigestScanObjects, { values: false });
            await this.syncWith(peer, shared, r, unsure, budget, claimed);
          } else {
            unsure.ranges.push(r);
            this.backlog = true;
          }
        }
      }
      level = next;
    }
  }

  /** Objects outside every range this node replicates go to their replica set, then are dropped. */
  private async handOffOutside(arcs: Arc[]): Promise<void> {
    const self = this.endpoint.self.id;
    const now = this.clock.now();
    for (const [guid, until] of this.parked) if (until <= now) this.parked.delete(guid);
    const batch: { object: StoredObject; targets: NodeHandle[] }[] = [];
    let budget: number = REPLICATION.maxHandoffPerRound;
    const ring = this.ring;
    for (const r of complement(arcs)) {
      if (budget <= 0) break;
      // Parked copies are read past, not counted against the budget.
      const objects = await this.local.store.range(r.from, r.to, budget + this.parked.size, { values: false });
      for (const object of objects) {
        if (budget <= 0) break;
        if (this.parked.has(object.guid)) continue;
        budget--;
        const targets = ring.replicaSet(object.guid, this.config.replicas);
        if (!targets.some((n) => n.id === self)) batch.push({ object, targets });
      }
      if (budget <= 0) this.backlog = true;
    }
    await this.handOff(batch);
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

  /**
   * Digest exchange with one peer over one small range, then pushes and pulls within the
   * round's `budget` (spent in place). Values move in bounded windows both ways: a push reads
   * at most a window of values ahead of what it sends (pushAll), and a pull fetches one
   * bounded message ahead of what it writes, so a repair of large values holds a few MiB,
   * not the budget's worth. GUIDs in `claimed` are being pulled from another peer this round
   * and are skipped. The objects found out of date, or all shared ones when the peer did
   * not answer, go into `unsure`.
   */
  private async syncWith(peer: NodeHandle, shared: StoredObject[], page: Range, unsure: Unsure, budget: Budget, claimed: Set<Id>): Promise<void> {
    const deadline = this.clock.now() + this.config.rpcTimeoutMs * 4;
    try {
      const mine = bucketize(shared);
      const whole = page.from === MIN_ID && page.to === MAX_ID;
      const rangeFrom = whole ? Buffer.alloc(0) : Buffer.from(page.from, 'hex');
      const rangeTo = whole ? Buffer.alloc(0) : Buffer.from(page.to, 'hex');
      const res = await callDht(this.endpoint, peer, 'syncDigest', { sender: toNodeInfo(this.endpoint.self), buckets: digestsOf(mine), rangeFrom, rangeTo }, deadline);
      if (res.differingBuckets.length === 0) return;
      const theirs = new Map<Id, Meta>(res.entries.map(fromMeta).map((m) => [m.guid, m]));
      const toPush: StoredObject[] = [];
      for (const b of res.differingBuckets) {
        for (const o of mine.get(b)?.entries ?? []) {
          const t = theirs.get(o.guid);
          if (!t || compareVersions(o, t) > 0) toPush.push(o);
        }
      }
      const mineByGuid = new Map(shared.map((o) => [o.guid, o]));
      const toPull = [...theirs.values()].filter((t) => {
        const m = mineByGuid.get(t.guid);
        return (!m || compareVersions(t, m) > 0) && this.endpoint.replicaSet(t.guid, this.config.replicas).some((n) => n.id === this.endpoint.self.id);
      });
      for (const o of toPush) unsure.guids.add(o.guid);
      for (const t of toPull) unsure.guids.add(t.guid);
      const unclaimed = toPull.filter((t) => !claimed.has(t.guid));
      const pushing = spend(budget, toPush);
      const pulling = spend(budget, unclaimed);
      for (const t of pulling) claimed.add(t.guid);
      // Both ways at once, each settled before the round goes on: a failed pull must not
      // leave a push running beside the next range's.
      const [pushes, pulls] = await Promise.allSettled([
        pushing.length > 0 ? this.pushAll(pushing.map((object) => ({ object, targets: [peer] })), deadline).then((d) => d.size) : 0,
        pulling.length > 0 ? this.pull(peer, pulling, deadline) : 0,
      ]);
      if (pulls.status === 'rejected') throw pulls.reason;
      if (pushes.status === 'rejected') throw pushes.reason;
      const [pushed, pulled] = [pushes.value, pulls.value];
      if (pushing.length < toPush.length || pulling.length < unclaimed.length) this.backlog = true;
      this.stats.repaired += pushed + pulled;
      if (pushed + pulled > 0) this.log.debug('antientropy_repaired', { peer: peer.name || peer.id, pushed, pulled });
    } catch (error) {
      this.log.debug('antientropy_sync_failed', { peer: peer.name || peer.id, error: String(error) });
      unsure.ranges.push(page);
    }
  }

  /**
   * Fetches `wanted` from `peer` in messages of at most half a push window of value bytes
   * (the sizes its digest gave), the next message on its way while this one is written: a
   * pull holds at most a window, as a push does. Returns how many were applied.
   */
  private async pull(peer: NodeHandle, wanted: Meta[], deadline: number): Promise<number> {
    const half = Math.min(REPLICATION.maxBytesPerMessage, Math.max(1, Math.floor((this.config.pushWindowBytes ?? REPLICATION.pushWindowBytes) / 2)));
    const groups = bounded(wanted, (m) => m.size, REPLICATION.maxObjectsPerMessage, half).map((g) => g.map((m) => m.guid));
    let applied = 0;
    let next: Promise<StoredObject[]> | undefined = groups.length > 0 ? this.replication.fetch(peer, groups[0]!, deadline) : undefined;
    for (let i = 0; i < groups.length; i++) {
      const fetched = await next!;
      next = i + 1 < groups.length ? this.replication.fetch(peer, groups[i + 1]!, deadline) : undefined;
      // Awaited in the next turn; a failure meanwhile must not go unhandled.
      next?.catch(() => undefined);
      // Written together, as a StoreReplicas message is: the store's round trips overlap.
      const results = await Promise.all(fetched.map((o) => this.local.apply(o)));
      applied += results.filter((r) => r.result === 'applied').length;
    }
    return applied;
  }

  /** Objects this node is no longer a replica of go to their replica set, then are dropped. */
  private async handOff(batch: { object: StoredObject; targets: NodeHandle[] }[]): Promise<void> {
    if (batch.length === 0) return;
    const deadline = this.clock.now() + this.config.rpcTimeoutMs * 4;
    const pointed = new Set<Id>();
    const delivered = await this.pushAll(batch, deadline, { pointed });
    for (const { object } of batch) {
      if (delivered.has(object.guid) && (await this.local.dropIfUnchanged(object))) this.stats.handedOff++;
    }
    if (this.parked.size < DIVERSION.maxParked) {
      const until = this.clock.now() + DIVERSION.recheckMs;
      for (const g of pointed) this.parked.set(g, until);
    }
  }

  /** This node's copy, a diversion pointer followed; undefined when absent or out of reach. */
  private async readCopy(guid: Id): Promise<StoredObject | undefined> {
    try {
      return (await this.local.read(guid)).object;
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      return undefined;
    }
  }

  /**
   * Sends each object to all of its targets, in batched messages, one stream per target in
   * parallel. Returns the GUIDs that reached every target. With `pointed`, the targets may
   * answer with a pointer to this node's copy instead of taking it (this node keeps it); those
   * GUIDs go into `pointed` and count as not delivered. With `leaving`, this is the node's
   * graceful leave, and every message tells the target so (sender_leaving_ms).
   */
  private async pushAll(items: { object: StoredObject; targets: NodeHandle[] }[], deadline: number, options: PushOptions = {}): Promise<Set<Id>> {
    // Half windows of value bytes (the metadata's sizes), and of objects: the next one is read
    // while this one is sent, so at most a window's bytes are held unsent or unanswered.
    const half = Math.max(1, Math.floor((this.config.pushWindowBytes ?? REPLICATION.pushWindowBytes) / 2));
    const windows: (typeof items)[] = [];
    for (let start = 0; start < items.length; ) {
      let end = start + 1;
      for (let bytes = items[start]!.object.size; end < items.length && end - start < REPLICATION.pushWindowObjects && bytes + items[end]!.object.size <= half; end++) bytes += items[end]!.object.size;
      windows.push(items.slice(start, end));
      start = end;
    }
    const delivered = new Set<Id>();
    let reading = windows.length > 0 ? this.readWindow(windows[0]!) : undefined;
    for (let i = 0; i < windows.length; i++) {
      const full = await reading!;
      reading = i + 1 < windows.length ? this.readWindow(windows[i + 1]!) : undefined;
      // Awaited in the next turn; a failure meanwhile must not go unhandled.
      reading?.catch(() => undefined);
      for (const g of await this.pushWindow(windows[i]!, full, deadline, options)) delivered.add(g);
    }
    return delivered;
  }

  /** This node's copies of a window's objects, read at once: the store takes them as one pipeline. */
  private async readWindow(items: { object: StoredObject }[]): Promise<Map<Id, StoredObject>> {
    const full = new Map<Id, StoredObject>();
    for (const o of await Promise.all(items.map(({ object }) => this.readCopy(object.guid)))) if (o) full.set(o.guid, o);
    return full;
  }

  private async pushWindow(items: { object: StoredObject; targets: NodeHandle[] }[], full: Map<Id, StoredObject>, deadline: number, { pointed, leaving = false }: PushOptions): Promise<Set<Id>> {
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
    // A few messages in flight per target: its writes overlap the next message's transfer.
    const send = async (peer: NodeHandle, queue: StoredObject[][]): Promise<void> => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) {
        if (this.clock.now() >= deadline) {
          batch.forEach((o) => failed.add(o.guid));
          continue;
        }
        try {
          const res = await this.replication.push(peer, batch, deadline, { senderKeeps: pointed !== undefined, leavingMs: leaving ? deadline - this.clock.now() : 0 });
          for (const g of res.pointed) {
            failed.add(g);
            pointed?.add(g);
          }
        } catch {
          batch.forEach((o) => failed.add(o.guid));
        }
      }
    };
    await Promise.all(
      [...byTarget.values()].map(({ peer, objects }) => {
        const queue = [...batches(objects)];
        return Promise.all(Array.from({ length: REPLICATION.pushesPerTarget }, () => send(peer, queue)));
      }),
    );
    return new Set([...full.keys()].filter((g) => !failed.has(g)));
  }

  /**
   * A graceful leave: every object goes to the nodes that join its replica set without this
   * node (leaveTargets), page by page. Returns how many objects reached all of their targets
   * and how many did not.
   */
  async handOffAll(deadline: number): Promise<{ handedOff: number; failed: number }> {
    let handedOff = 0;
    let failed = 0;
    // Every neighbour first: one that took this node's place in an object's replica set would
    // otherwise hand it back if another replica repaired it there before this node's copy came.
    const told = Math.min(deadline, this.clock.now() + this.config.rpcTimeoutMs);
    await Promise.all(this.endpoint.leafSet().map((n) => this.replication.announceLeaving(n, deadline - this.clock.now(), told).catch(() => undefined)));
    const held = await this.local.store.count();
    const pages = this.pages();
    for (let next = pages.next(); ; ) {
      const { value: page, done } = await next;
      if (done) break;
      // Out of time: the rest stays for anti-entropy on the replicas left, and the leave
      // goes on (the leaf set told) before the process must exit.
      if (this.clock.now() >= deadline) {
        failed = Math.max(failed, held - handedOff);
        break;
      }
      // The next page's metadata is read while this one is sent.
      next = pages.next();
      next.catch(() => undefined);
      const ring = this.ring;
      const items = page.objects.map((object) => ({ object, targets: this.leaveTargets(object.guid, ring) }));
      const delivered = await this.pushAll(items, deadline, { leaving: true });
      handedOff += delivered.size;
      failed += page.objects.length - delivered.size;
    }
    return { handedOff, failed };
  }

  /**
   * Where a leave sends an object: the nodes that enter its replica set when this node goes.
   * Its other replicas hold it already (anti-entropy keeps them so), and sending it to them
   * too would triple the leave's work for nothing. An object this node holds without being
   * one of its replicas goes to the whole replica set, which may lack it.
   */
  private leaveTargets(guid: Id, ring = this.ring): NodeHandle[] {
    const without = ring.replicaSet(guid, this.config.replicas, this.endpoint.self.id);
    const now = ring.replicaSet(guid, this.config.replicas);
    if (!now.some((n) => n.id === this.endpoint.self.id)) return without;
    return without.filter((n) => !now.some((m) => m.id === n.id));
  }

  /** The receiving side of a digest exchange. */
  async handleSyncDigest(req: SyncDigestRequest): Promise<SyncDigestResponse> {
    fromNodeInfo(req.sender, 'sender');
    const ranged = req.rangeFrom.length > 0 || req.rangeTo.length > 0;
    if (ranged && (req.rangeFrom.length !== 16 || req.rangeTo.length !== 16)) throw new InvalidArgumentError('range_from and range_to must both be 16-byte GUIDs, or both empty');
    const from = ranged ? req.rangeFrom.toString('hex') : MIN_ID;
    const to = ranged ? req.rangeTo.toString('hex') : MAX_ID;
    // The sender's page bounds the range; what this node holds there is bounded as well.
    // The sender asks for a range both replicate (its arcs): all this node holds there counts,
    // as in the hash-tree summaries.
    const mine = bucketize(await this.local.store.range(from, to, REPLICATION.maxDigestScanObjects, { values: false }));
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

  /** The receiving side of a hash-tree comparison. */
  async handleSyncTree(req: SyncTreeRequest): Promise<SyncTreeResponse> {
    fromNodeInfo(req.sender, 'sender');
    // No ranges: a full neighbour asking how much room is left here, before it diverts.
    if (req.ranges.length === 0) {
      this.local.checkHealthy();
      return { same: [], counts: [], utilization: { share: this.local.utilization() } };
    }
    if (req.ranges.length > REPLICATION.maxTreeRanges) throw new InvalidArgumentError(`at most ${REPLICATION.maxTreeRanges} ranges`);
    const ranges = req.ranges.map((r, i) => {
      if (r.from.length !== 16 || r.to.length !== 16) throw new InvalidArgumentError(`ranges[${i}]: from and to must be 16-byte GUIDs`);
      if (r.digest.length !== DIGEST_BYTES) throw new InvalidArgumentError(`ranges[${i}]: the digest must be ${DIGEST_BYTES} bytes`);
      const from = r.from.toString('hex');
      const to = r.to.toString('hex');
      if (from > to) throw new InvalidArgumentError(`ranges[${i}]: from must not be above to`);
      return { from, to, digest: r.digest, count: Number(r.count) };
    });
    const tree = await TreeView.of(this.local.store, REPLICATION.maxDigestScanObjects);
    const same: boolean[] = [];
    const counts: number[] = [];
    for (const r of ranges) {
      const s = await tree.summary(r.from, r.to);
      same.push(sameSummary(s, r.digest, r.count));
      counts.push(s.count);
    }
    return { same, counts, utilization: { share: this.local.utilization() } };
  }
}

/** A range still to compare; `confirm` once it has differed while too small to split. */
interface Pending extends Range {
  confirm?: boolean;
}

/** What a round could not confirm in sync: whole ranges (a peer silent), and single objects. */
interface Unsure {
  ranges: Range[];
  guids: Set<Id>;
}

/** What a peer's sync may still move in this round. */
interface Budget {
  objects: number;
  bytes: number;
}

/** The head of `items` the budget covers (at least one while any is left), taken from it. */
function spend<T extends { size: number }>(budget: Budget, items: T[]): T[] {
  let n = 0;
  while (n < items.length && budget.objects > 0 && budget.bytes > 0) {
    budget.objects--;
    budget.bytes -= items[n]!.size;
    n++;
  }
  return n === items.length ? items : items.slice(0, n);
}

/** A start offset from the two nodes and the round: different for each pair and each round. */
function rotationOf(self: Id, peer: Id, round: number): number {
  return createHash('sha256').update(self).update(peer).update(String(round)).digest().readUInt32BE(0);
}

function rotate<T>(items: T[], start: number): T[] {
  const k = start % Math.max(1, items.length);
  return k === 0 ? items : [...items.slice(k), ...items.slice(0, k)];
}

async function countUnsure(unsure: Unsure, tree: TreeView): Promise<number> {
  const ranges = mergeRanges(unsure.ranges);
  let n = 0;
  for (const r of ranges) n += (await tree.summary(r.from, r.to)).count;
  for (const g of unsure.guids) if (!inRanges(g, ranges)) n++;
  return n;
}

/**
 * A range cut by its first GUID digit that varies, into at most 16 ranges one tree level
 * down; undefined once the range lies inside one leaf.
 */
export function splitRange(r: Range): Range[] | undefined {
  let p = 0;
  while (p < 32 && r.from[p] === r.to[p]) p++;
  if (p >= LEAF_DIGITS) return undefined;
  const lo = parseInt(r.from[p]!, 16);
  const hi = parseInt(r.to[p]!, 16);
  const out: Range[] = [];
  for (let c = lo; c <= hi; c++) {
    const prefix = r.from.slice(0, p) + c.toString(16);
    out.push({ from: c === lo ? r.from : prefix.padEnd(32, '0'), to: c === hi ? r.to : prefix.padEnd(32, 'f') });
  }
  return out;
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

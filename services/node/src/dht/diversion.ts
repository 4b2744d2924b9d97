import { compareCloseness, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { compareVersions } from '../core/replicas';
import { DIVERSION, REPLICATION } from '../constants';
import { ResourceExhaustedError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { toNodeInfo } from '../overlay/codec';
import type { StoredObject } from '../store/store';
import { callDht } from './peer-messages';
import { fromRecord, toRecord } from './records';
import type { ReplicaStore } from './replica-store';

export interface DiversionConfig {
  replicas: number;
  rpcTimeoutMs: number;
  maxValueBytes: number;
}

export interface DivertOptions {
  /** The node the objects came from: never a candidate holder. */
  sender?: NodeHandle;
  /** The sender holds the objects outside their replica set and may keep them (a handoff). */
  senderKeeps?: boolean;
  /** A holder that lost its copy: the pointer to it is replaced, not kept. */
  replacing?: Id;
}

export interface DiversionStats {
  /** Copies this node placed on a neighbour, keeping a pointer. */
  diverted: number;
  /** Copies this node took back from their holders once it had room. */
  reclaimed: number;
  /** Pointers whose holder had lost the copy, replaced by a copy found on another replica. */
  restored: number;
  /** Pointers dropped: the holder lost the copy and no other replica had one (a put that failed). */
  dropped: number;
}

/**
 * PAST's replica diversion. A replica whose store is full asks a leaf-set neighbour outside
 * the object's replica set to hold the copy and keeps a pointer to it (value empty, the same
 * version, so the hash tree sees the copy it stands for). Reads of a pointer follow it. Each
 * round the pointers are checked: a copy its holder lost is found again on another replica,
 * and a node with room again takes its copies back; the holder then hands its copy off as
 * it does any object outside its ranges.
 */
export class Diversion {
  readonly stats: DiversionStats = { diverted: 0, reclaimed: 0, restored: 0, dropped: 0 };
  /** Where the pointer check stopped: the next round goes on from there. */
  private cursor: Id | undefined;
  /** Neighbours' utilisation as last heard, and when. */
  private readonly utilization = new Map<Id, { share: number; at: number }>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly local: ReplicaStore,
    private readonly config: DiversionConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Objects this node has no room for: `sender` keeps its copy when it can (a handoff from
   * outside the replica set), else a neighbour takes one. Returns, per GUID, 'pointed' (the
   * sender holds it), 'diverted' (a neighbour does), or nothing (nobody had room).
   */
  async divert(objects: StoredObject[], deadline: number, options: DivertOptions = {}): Promise<Map<Id, 'diverted' | 'pointed'>> {
    const { sender, senderKeeps = false, replacing } = options;
    const out = new Map<Id, 'diverted' | 'pointed'>();
    let left: StoredObject[] = [];
    for (const o of objects) {
      const current = await this.local.store.get(o.guid);
      // Already diverted at this version: the holder's copy is what the pointer stands for.
      if (current?.divertedTo && current.divertedTo !== replacing && compareVersions(current, o) === 0) {
        out.set(o.guid, current.divertedTo === sender?.id ? 'pointed' : 'diverted');
        continue;
      }
      const outside = sender !== undefined && !this.inReplicaSet(o.guid, sender.id);
      if (senderKeeps && outside && (await this.local.applyPointer(o, sender!.id))) {
        out.set(o.guid, 'pointed');
        continue;
      }
      left.push(o);
    }
    const tried = new Set<Id>([this.endpoint.self.id, ...(sender ? [sender.id] : [])]);
    const holders = left.length > 0 ? await this.candidates(left, tried, deadline) : [];
    let offered = 0;
    for (const holder of holders) {
      if (this.endpoint.now() >= deadline || left.length === 0 || offered >= DIVERSION.candidates) break;
      // Eligible for none of the objects still left (those it could take went elsewhere).
      const eligible = left.filter((o) => !this.inReplicaSet(o.guid, holder.id));
      if (eligible.length === 0) continue;
      tried.add(holder.id);
      offered++;
      const placed = await this.place(holder, eligible, deadline);
      for (const o of eligible) {
        if (!placed.has(o.guid)) continue;
        if (await this.local.applyPointer(o, holder.id)) this.stats.diverted++;
        out.set(o.guid, 'diverted');
      }
      left = left.filter((o) => !out.has(o.guid));
    }
    if (out.size > 0 || left.length > 0) this.log.debug('replicas_diverted', { diverted: out.size, refused: left.length, holdersTried: tried.size - 1 });
    return out;
  }

  /**
   * What `peer` said of its utilisation (0: no capacity bound); Infinity for a peer that did
   * not answer, so that it goes last until heard from again.
   */
  observe(peer: Id, share: number | undefined): void {
    // A node of an older version sends none: unknown, not empty.
    if (share === undefined || Number.isNaN(share) || share < 0) return;
    this.utilization.set(peer, { share, at: this.endpoint.now() });
    // Bounded by the leaf set in practice; forget nodes that left it.
    if (this.utilization.size > 2 * this.endpoint.leafSet().length + DIVERSION.candidates) {
      const members = new Set(this.endpoint.leafSet().map((n) => n.id));
      for (const id of this.utilization.keys()) if (!members.has(id)) this.utilization.delete(id);
    }
  }

  /**
   * Leaf-set members not yet tried, each outside the replica set of some object, least
   * utilised first (PAST's rule), nearest first among equals. Members not heard from for
   * DIVERSION.utilizationTtlMs are asked first, all at once and briefly; those that stay
   * silent go last, and those too full to take a diverted copy are left out.
   */
  private async candidates(objects: StoredObject[], tried: Set<Id>, deadline: number): Promise<NodeHandle[]> {
    const self = this.endpoint.self.id;
    const members = this.endpoint
      .leafSet()
      .filter((n) => !tried.has(n.id) && objects.some((o) => !this.inReplicaSet(o.guid, n.id)))
      .sort((a, b) => compareCloseness(self, a.id, b.id));
    const asked = this.endpoint.now();
    const fresh = (n: NodeHandle): { share: number; at: number } | undefined => {
      const known = this.utilization.get(n.id);
      return known && asked - known.at <= DIVERSION.utilizationTtlMs ? known : undefined;
    };
    // A quarter of an RPC timeout: a silent neighbour must not use up the write's deadline.
    const probeDeadline = Math.min(deadline, asked + Math.max(1, Math.floor(this.config.rpcTimeoutMs / 4)));
    await Promise.all(members.filter((n) => !fresh(n)).map((n) => this.ask(n, probeDeadline)));
    return members
      .map((n, i) => ({ n, i, share: fresh(n)?.share ?? Number.POSITIVE_INFINITY }))
      .filter((c) => c.share < DIVERSION.maxUtilization || c.share === Number.POSITIVE_INFINITY)
      .sort((a, b) => (a.share === b.share ? a.i - b.i : a.share < b.share ? -1 : 1))
      .map((c) => c.n);
  }

  /** Asks `peer` for its utilisation (a tree comparison of no ranges). */
  private async ask(peer: NodeHandle, deadline: number): Promise<void> {
    try {
      const res = await callDht(this.endpoint, peer, 'syncTree', { sender: toNodeInfo(this.endpoint.self), ranges: [] }, deadline);
      this.observe(peer.id, res.utilization?.share);
    } catch (error) {
      this.observe(peer.id, Number.POSITIVE_INFINITY);
      this.log.debug('diversion_utilization_unknown', { peer: peer.name || peer.id, error: String(error) });
    }
  }

  private inReplicaSet(guid: Id, node: Id): boolean {
    return this.endpoint.replicaSet(guid, this.config.replicas).some((n) => n.id === node);
  }

  /** Offers `objects` to `holder` as diverted copies; returns the GUIDs it holds now. */
  private async place(holder: NodeHandle, objects: StoredObject[], deadline: number): Promise<Set<Id>> {
    const placed = new Set<Id>();
    for (let i = 0; i < objects.length; i += REPLICATION.maxObjectsPerMessage) {
      const batch = objects.slice(i, i + REPLICATION.maxObjectsPerMessage);
      try {
        const res = await callDht(this.endpoint, holder, 'storeReplicas', { sender: toNodeInfo(this.endpoint.self), objects: batch.map(toRecord), diverted: true, senderKeeps: false, senderLeavingMs: 0 }, this.callDeadline(deadline));
        this.observe(holder.id, res.utilization?.share);
        const refused = new Set(res.refused.map((g) => Buffer.from(g).toString('hex')));
        // A newer copy there is no copy of this version: not placed.
        const newer = new Set(res.newer.map((m) => Buffer.from(m.guid).toString('hex')));
        for (const o of batch) if (!refused.has(o.guid) && !newer.has(o.guid)) placed.add(o.guid);
      } catch (error) {
        // Refused every copy: too full for diverted copies, whatever it said before.
        if (error instanceof ResourceExhaustedError) this.observe(holder.id, DIVERSION.maxUtilization);
        if (!(error instanceof ResourceExhaustedError)) this.log.debug('diversion_failed', { holder: holder.name || holder.id, error: String(error) });
        return placed;
      }
    }
    return placed;
  }

  /** A deadline one RPC timeout away. */
  soon(): number {
    return this.endpoint.now() + this.config.rpcTimeoutMs;
  }

  private callDeadline(deadline: number): number {
    return Math.min(deadline, this.endpoint.now() + this.config.rpcTimeoutMs);
  }

  /**
   * The copy a pointer stands for, read from its holder; anything else is returned as it is.
   * Throws UNAVAILABLE when the holder cannot be read or no longer has this version.
   */
  async resolve(object: StoredObject, deadline: number): Promise<StoredObject> {
    const holder = object.divertedTo;
    if (!holder) return object;
    const node = this.endpoint.leafSet().find((n) => n.id === holder);
    if (!node) throw new UnavailableError(`the copy of ${object.guid} diverted to ${holder} is out of reach`);
    const res = await callDht(this.endpoint, node, 'fetchReplicas', { guids: [Buffer.from(object.guid, 'hex')], metaOnly: false }, this.callDeadline(deadline));
    const copy = res.objects.map((r) => fromRecord(r, this.config.maxValueBytes)).find((o) => o.guid === object.guid);
    if (!copy || copy.divertedTo || compareVersions(copy, object) !== 0) throw new UnavailableError(`${holder} no longer holds the diverted copy of ${object.guid}`);
    return copy;
  }

  /**
   * One page of pointers: each holder is asked (metadata only) whether it still has the copy.
   * A copy it lost, or a holder gone from the leaf set, is fetched again from the other
   * replicas and stored here or diverted anew; with room here again, the copy comes back.
   * Returns the pointers it could not confirm (the round counts them under-replicated).
   */
  async maintain(deadline: number): Promise<number> {
    if (!this.local.healthy()) return 0;
    const page = await this.local.store.diverted(this.cursor, DIVERSION.pointersPerRound);
    this.cursor = page.length < DIVERSION.pointersPerRound ? undefined : page[page.length - 1]!.guid;
    const byHolder = new Map<Id, StoredObject[]>();
    for (const p of page) {
      const list = byHolder.get(p.divertedTo!) ?? [];
      list.push(p);
      byHolder.set(p.divertedTo!, list);
    }
    let unsure = 0;
    const live = new Map(this.endpoint.leafSet().map((n) => [n.id, n]));
    for (const [holderId, pointers] of byHolder) {
      const holder = live.get(holderId);
      let held = new Map<Id, StoredObject>();
      let answered = false;
      if (holder) {
        try {
          const res = await callDht(this.endpoint, holder, 'fetchReplicas', { guids: pointers.map((p) => Buffer.from(p.guid, 'hex')), metaOnly: true }, this.callDeadline(deadline));
          held = new Map(res.objects.map((r) => fromRecord(r, this.config.maxValueBytes)).map((o) => [o.guid, o]));
          answered = true;
        } catch {
          // Unanswered: looked at again next time round.
        }
      }
      for (const p of pointers) {
        const h = held.get(p.guid);
        const confirmed = h !== undefined && compareVersions(h, p) === 0;
        if (confirmed && holder) {
          // Outside this node's replica set, the handoff moves the copy the pointer stands for.
          if (this.inReplicaSet(p.guid, this.endpoint.self.id) && this.local.hasRoom(p.size, DIVERSION.reclaimUtilization)) await this.reclaim(p, holder, deadline);
          continue;
        }
        if (holder && !answered) {
          unsure++;
          continue;
        }
        if (!(await this.restore(p, deadline))) unsure++;
      }
    }
    return unsure;
  }

  /** Takes a diverted copy back: the pointer gives way to it. */
  private async reclaim(pointer: StoredObject, holder: NodeHandle, deadline: number): Promise<void> {
    try {
      const copy = await this.resolve({ ...pointer, divertedTo: holder.id }, deadline);
      if ((await this.local.apply(copy, DIVERSION.reclaimUtilization)).result === 'applied') this.stats.reclaimed++;
    } catch {
      // Full again, or the holder went away: the pointer stays, checked next round.
    }
  }

  /** A pointer whose holder lost the copy: the copy from another replica, kept here or diverted again. */
  private async restore(pointer: StoredObject, deadline: number): Promise<boolean> {
    const others = this.endpoint.replicaSet(pointer.guid, this.config.replicas).filter((n) => n.id !== this.endpoint.self.id);
    let answered = 0;
    for (const n of others) {
      let copy: StoredObject | undefined;
      try {
        const res = await callDht(this.endpoint, n, 'fetchReplicas', { guids: [Buffer.from(pointer.guid, 'hex')], metaOnly: false }, this.callDeadline(deadline));
        copy = res.objects.map((r) => fromRecord(r, this.config.maxValueBytes)).find((o) => o.guid === pointer.guid);
        answered++;
      } catch {
        continue;
      }
      if (!copy || compareVersions(copy, pointer) < 0) continue;
      try {
        await this.local.apply(copy);
        this.stats.restored++;
        return true;
      } catch (error) {
        if (!(error instanceof ResourceExhaustedError)) return false;
      }
      const stale = pointer.divertedTo!;
      const placed = await this.divert([copy], deadline, { sender: this.endpoint.leafSet().find((x) => x.id === stale), replacing: stale });
      if (placed.has(pointer.guid) && (await this.local.store.get(pointer.guid))?.divertedTo !== stale) {
        this.stats.restored++;
        return true;
      }
      return false;
    }
    // Every other replica answered without it and the holder has no copy: nothing is left for
    // the pointer to stand for (a put that was never acknowledged, or k copies lost). Should
    // the holder come back with it, it hands the copy to the replica set again.
    if (answered === others.length) {
      if (await this.local.dropIfUnchanged(pointer)) {
        this.stats.dropped++;
        this.log.warn('diverted_copy_lost', { guid: pointer.guid, version: pointer.version, holder: pointer.divertedTo });
      }
      return true;
    }
    return false;
  }
}

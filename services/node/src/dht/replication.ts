import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { compareVersions, majority } from '../core/replicas';
import { REPLICATION } from '../constants';
import { ResourceExhaustedError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { toNodeInfo } from '../overlay/codec';
import { callDht } from './peer-messages';
import type { StoredObject } from '../store/store';
import { fromMeta, fromRecord, toRecord } from './records';
import type { Diversion } from './diversion';
import type { ReplicaStore } from './replica-store';

export interface ReplicationConfig {
  replicas: number;
  /** Acknowledgements a write needs; default a majority of `replicas`. */
  writeQuorum: number;
  rpcTimeoutMs: number;
  maxValueBytes: number;
}

export interface WriteOutcome {
  acknowledged: number;
  /** A replica replaced a live object (a remove that removed something). */
  replacedLive: boolean;
}

/**
 * Too few replicas took a write because they hold a newer version: one written by an earlier
 * root whose clock ran ahead of this one's. The root writes again above `newerVersion`.
 */
export class SupersededError extends UnavailableError {
  constructor(readonly newerVersion: number) {
    super(`replicas hold version ${newerVersion}, newer than this write`);
  }
}

/** A read of every replica: the newest copy, and whether enough answered for an absence to be sure. */
export interface ReplicaRead {
  newest: StoredObject | undefined;
  /** Other replicas that answered. */
  answered: number;
  /** Answers (this node's own store counting as one) that prove an object absent or removed. */
  needed: number;
}

interface ReplicaReply {
  replacedLive: boolean;
  /** The replica kept its copy: it is strictly newer than the object sent. */
  newerVersion?: number;
}

/**
 * The root's side of PAST-style replication: writes go to the key's k closest nodes and are
 * acknowledged after a quorum; reads fall back to the other replicas and repair what they
 * find missing or stale.
 */
export class Replication {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly local: ReplicaStore,
    private readonly config: ReplicationConfig,
    private readonly clock: { now(): number },
    private readonly log: Logger,
    /** Places a copy this node has no room for on a neighbour; none: the write is refused. */
    private readonly diversion?: Diversion,
  ) {}

  static quorum(replicas: number, configured?: number): number {
    return Math.min(replicas, configured ?? majority(replicas));
  }

  replicaSet(guid: Id, exclude?: Id): NodeHandle[] {
    return this.endpoint.replicaSet(guid, this.config.replicas, exclude);
  }

  /**
   * Writes the object on every replica; resolves once `writeQuorum` stored it (or already held
   * this very version), rejects when that can no longer happen: with SupersededError when
   * replicas kept a newer version, else UNAVAILABLE. Writes still in flight go on.
   */
  write(object: StoredObject, deadline: number): Promise<WriteOutcome> {
    const targets = this.replicaSet(object.guid);
    const need = Math.min(this.config.writeQuorum, targets.length);
    return new Promise((resolve, reject) => {
      let acks = 0;
      let failures = 0;
      let full = 0;
      let newest: number | undefined;
      let replacedLive = false;
      let settled = false;
      const done = (): void => {
        if (settled) return;
        if (acks >= need) {
          settled = true;
          resolve({ acknowledged: acks, replacedLive });
        } else if (failures > targets.length - need) {
          settled = true;
          if (newest !== undefined) reject(new SupersededError(newest));
          else if (full > 0 && failures - full <= targets.length - need) reject(new ResourceExhaustedError(`only ${acks} of ${targets.length} replicas confirmed the write: ${full} are full`));
          else reject(new UnavailableError(`only ${acks} of ${targets.length} replicas confirmed the write; ${need} are needed`));
        }
      };
      for (const target of targets) {
        this.writeTo(target, object, deadline).then(
          (r) => {
            if (r.newerVersion !== undefined) {
              failures++;
              newest = Math.max(newest ?? 0, r.newerVersion);
            } else {
              acks++;
              replacedLive ||= r.replacedLive;
            }
            done();
          },
          (error: unknown) => {
            failures++;
            if (error instanceof ResourceExhaustedError) full++;
            // Liveness is the maintenance loop's call: a live peer whose store is down fails too.
            this.log.debug('replica_write_failed', { peer: target.name || target.id, error: String(error) });
            done();
          },
        );
      }
      done();
    });
  }

  /** One replica write. */
  private async writeTo(target: NodeHandle, object: StoredObject, deadline: number): Promise<ReplicaReply> {
    if (target.id === this.endpoint.self.id) {
      try {
        const { result, previous } = await this.local.apply(object);
        if (result === 'newer') return { replacedLive: false, newerVersion: previous!.version };
        return { replacedLive: result === 'applied' && previous !== undefined && !previous.tombstone };
      } catch (error) {
        if (!(error instanceof ResourceExhaustedError) || !this.diversion) throw error;
        const previous = await this.local.store.get(object.guid);
        if ((await this.diversion.divert([object], deadline)).get(object.guid) !== 'diverted') throw error;
        return { replacedLive: previous !== undefined && !previous.tombstone };
      }
    }
    const res = await callDht(this.endpoint, target, 'storeReplicas', { sender: toNodeInfo(this.endpoint.self), objects: [toRecord(object)], diverted: false, senderKeeps: false, senderLeavingMs: 0 }, deadline);
    // It points back here: this node's copy is the one counted, not another.
    if (res.pointed.length > 0) throw new ResourceExhaustedError(`${target.name || target.address} is full`);
    const newer = res.newer.find((m) => fromMeta(m).guid === object.guid);
    if (newer) return { replacedLive: false, newerVersion: Number(newer.version) };
    return { replacedLive: res.replacedLive > 0 };
  }

  /**
   * Pushes objects to one peer in bounded messages; returns how many it took, and the GUIDs
   * it keeps only a pointer to this node's copy for (asked for by `senderKeeps`: this node
   * holds them outside their replica set and may go on doing so). `leavingMs`: this node is
   * leaving and is gone within that many milliseconds (a graceful leave's handoff).
   */
  async push(target: NodeHandle, objects: StoredObject[], deadline: number, options: { senderKeeps?: boolean; leavingMs?: number } = {}): Promise<{ applied: number; pointed: Set<Id> }> {
    let applied = 0;
    const pointed = new Set<Id>();
    const senderKeeps = options.senderKeeps ?? false;
    const senderLeavingMs = Math.max(0, Math.ceil(options.leavingMs ?? 0));
    for (const batch of batches(objects)) {
      const res = await callDht(this.endpoint, target, 'storeReplicas', { sender: toNodeInfo(this.endpoint.self), objects: batch.map(toRecord), diverted: false, senderKeeps, senderLeavingMs }, deadline);
      applied += res.applied + res.stale;
      for (const g of res.pointed) pointed.add(Buffer.from(g).toString('hex'));
      // Not delivered: a handoff must keep these, a repair tries again.
      if (res.refused.length > 0) throw new ResourceExhaustedError(`${target.name || target.address} is full: refused ${res.refused.length} of ${batch.length} objects`);
    }
    return { applied, pointed };
  }

  /**
   * Tells `target` that this node is leaving, gone within `leavingMs`, before the objects
   * come (a StoreReplicas message with none): so that it does not hand back what other
   * replicas pass on to it meanwhile.
   */
  async announceLeaving(target: NodeHandle, leavingMs: number, deadline: number): Promise<void> {
    await callDht(this.endpoint, target, 'storeReplicas', { sender: toNodeInfo(this.endpoint.self), objects: [], diverted: false, senderKeeps: false, senderLeavingMs: Math.max(1, Math.ceil(leavingMs)) }, deadline);
  }

  /** Reads copies of `guids` from one peer. */
  async fetch(target: NodeHandle, guids: Id[], deadline: number): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const step = REPLICATION.maxObjectsPerMessage;
    for (let i = 0; i < guids.length; i += step) {
      const res = await callDht(this.endpoint, target, 'fetchReplicas', { guids: guids.slice(i, i + step).map((g) => Buffer.from(g, 'hex')), metaOnly: false }, deadline);
      out.push(...res.objects.map((r) => fromRecord(r, this.config.maxValueBytes)));
    }
    return out;
  }

  /**
   * Reads the other replicas, returns the newest copy (the local one included) and how many
   * replicas answered, and repairs the copies found missing or older (read repair). Each
   * replica gets at most one RPC timeout, so one dead replica cannot eat the whole deadline.
   */
  async readFromReplicas(guid: Id, local: StoredObject | undefined, deadline: number): Promise<ReplicaRead> {
    const others = this.replicaSet(guid).filter((n) => n.id !== this.endpoint.self.id);
    const replicaDeadline = Math.min(deadline, this.endpoint.now() + this.config.rpcTimeoutMs);
    const copies = await Promise.all(
      others.map(async (n) => {
        try {
          const [copy] = await this.fetch(n, [guid], replicaDeadline);
          return { node: n, copy, ok: true };
        } catch {
          return { node: n, copy: undefined, ok: false };
        }
      }),
    );
    let newest = local;
    for (const { copy } of copies) if (copy && (!newest || compareVersions(copy, newest) > 0)) newest = copy;
    if (newest) {
      const best = newest;
      const stale = copies.filter((c) => c.ok && (!c.copy || compareVersions(c.copy, best) < 0)).map((c) => c.node);
      const repairLocal = !local || compareVersions(local, best) < 0;
      void this.repair(best, stale, repairLocal, deadline);
    }
    const answered = copies.filter((c) => c.ok).length;
    // An acknowledged write is on writeQuorum of the k replicas: any k - writeQuorum + 1 of
    // them include one that has it, so fewer answers cannot prove an object absent.
    const setSize = others.length + 1;
    const needed = setSize - Math.min(this.config.writeQuorum, setSize) + 1;
    return { newest, answered, needed };
  }

  private async repair(object: StoredObject, peers: NodeHandle[], includeLocal: boolean, deadline: number): Promise<void> {
    const work: Promise<unknown>[] = peers.map((p) => this.push(p, [object], deadline));
    if (includeLocal && this.local.healthy()) work.push(this.local.apply(object));
    const results = await Promise.allSettled(work);
    const repaired = results.filter((r) => r.status === 'fulfilled').length;
    if (repaired > 0) this.log.debug('read_repair', { guid: object.guid, repaired });
  }
}

/** Splits objects into messages under the count and byte limits. */
export function batches(objects: StoredObject[], maxCount: number = REPLICATION.maxObjectsPerMessage, maxBytes: number = REPLICATION.maxBytesPerMessage): StoredObject[][] {
  return bounded(objects, (o) => o.value.length, maxCount, maxBytes);
}

/** Splits items, in order, into groups of at most `maxCount` and `maxBytes` (one larger item goes alone). */
export function bounded<T>(items: T[], bytesOf: (item: T) => number, maxCount: number, maxBytes: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length >= maxCount || bytes + bytesOf(item) > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += bytesOf(item);
  }
  if (current.length > 0) out.push(current);
  return out;
}

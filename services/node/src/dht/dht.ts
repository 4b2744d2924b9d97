import { idToBytes, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { DhtOperation, DhtRouted, DhtRoutedReply } from '../gen/pastry/v1/dht_peer';
import type { Key } from '../gen/pastry/v1/dht';
import type { NodeInfo } from '../gen/pastry/v1/common';
import type { Application, Endpoint, ForwardDecision, RoutedMessage } from '../overlay/common-api';
import { fromNodeInfo, keyFromBytes, toNodeInfo } from '../overlay/codec';
import { CACHE, FILE_DIVERSION, LIMITS, NEAREST_READS } from '../constants';
import { LeaseTable, RouteCache, type Versioned } from './cache';
import { callDht, DHT_APP } from './peer-messages';
import type { StoredObject } from '../store/store';
import { guidForContent, guidForName, saltedGuid, sha256 } from './guid';
import type { ReplicaStore } from './replica-store';
import { SupersededError, type Replication, type WriteOutcome } from './replication';
import { toBuffer } from '../rpc/wire';

export interface DhtConfig {
  maxValueBytes: number;
  replicas: number;
  /** How long a read's answer may be cached on its way back (0: no caching). */
  cacheLeaseMs?: number;
  /** Bytes of cached copies this node keeps at most. */
  cacheBytes?: number;
  /** One revocation call's limit. */
  rpcTimeoutMs?: number;
  /** A read goes to the replica nearest each hop (Pastry's heuristic); on unless false. */
  nearestReplicaReads?: boolean;
}

/** The outcome of an operation at the node that serves it. */
export interface Delivery {
  found: boolean;
  value: Buffer;
  /** Replicas that confirmed a write. */
  acknowledged: number;
  version: number;
  /** Get: the lease granted on the copy (0: do not cache), and the copy's writer. */
  leaseMs?: number;
  writer?: Id;
}

export interface Routed {
  guid: Id;
  response: Delivery & { root: NodeInfo; hops: NodeInfo[] };
}

const EMPTY = Buffer.alloc(0);

/** Writes of one put or remove when replicas keep reporting newer versions. */
const SUPERSEDED_RETRIES = 3;

/** Registers an application on a node's overlay. */
export interface AppHost {
  register(app: Application): Endpoint;
}

/**
 * The DHT, an application on the overlay's common API: client operations are routed towards
 * the key's root, which coordinates the k replicas; a read is answered by the first node on
 * the route holding one (the `forward` upcall).
 */
export class Dht implements Application {
  readonly id = DHT_APP;
  /**
   * Puts this node, as a root, stored under a salted GUID (file diversion), and diverted
   * files it removed, as their root, because no redirect named them any more.
   */
  readonly stats = { fileDiverted: 0, filesDropped: 0 };
  /** Where the check of diverted files stopped: the next round goes on from there. */
  private fileCursor: Id | undefined;
  private leaving = false;
  private lastVersion = 0;
  private replication!: Replication;
  private local!: ReplicaStore;
  private receiver: ((from: NodeHandle, payload: Buffer) => Promise<Buffer>) | undefined;
  /** Copies this node keeps of objects it passed reads for (it is not their replica). */
  readonly cache: RouteCache;
  /** Leases this node granted, as a replica, on the copies others cache. */
  readonly leases: LeaseTable;
  /** When this node forwarded a read: a cached copy's lease counts from before it was granted. */
  private readonly forwardedAt = new WeakMap<RoutedMessage, number>();
  private readonly revoking = new Map<Id, Promise<void>>();
  /** When this node's leaf set last changed: it may have become the root of keys since. */
  private leafSetChangedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly endpoint: Endpoint,
    private readonly config: DhtConfig,
  ) {
    const leaseMs = config.cacheLeaseMs ?? 0;
    this.cache = new RouteCache(config.cacheBytes ?? 0, leaseMs);
    this.leases = new LeaseTable(this.cache.enabled ? leaseMs : 0, CACHE.maxLeases, CACHE.maxHoldersPerObject);
  }

  /** The parts that need the endpoint first: the node wires them in. */
  attach(local: ReplicaStore, replication: Replication, receive: (from: NodeHandle, payload: Buffer) => Promise<Buffer>): void {
    this.local = local;
    this.replication = replication;
    this.receiver = receive;
  }

  private get clock(): { now(): number } {
    return this.endpoint;
  }

  /** A node shutting down accepts no new writes; clients retry through another node. */
  stopAcceptingWrites(): void {
    this.leaving = true;
  }

  async put(name: string, value: Buffer, deadline: number, context?: unknown): Promise<Routed> {
    this.checkValue(value);
    if (Buffer.byteLength(name) > LIMITS.maxNameBytes) throw new InvalidArgumentError(`name is longer than ${LIMITS.maxNameBytes} bytes`);
    const contentAddressed = name === '';
    const guid = contentAddressed ? guidForContent(value) : guidForName(name);
    return this.routeOp(guid, DhtOperation.DHT_OPERATION_PUT, value, contentAddressed, deadline, context);
  }

  async get(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    const guid = resolveKey(key);
    const routed = await this.routeOp(guid, DhtOperation.DHT_OPERATION_GET, EMPTY, false, deadline, context);
    if (!routed.response.found) throw new NotFoundError(`no object with GUID ${guid}`);
    return routed;
  }

  async remove(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    return this.routeOp(resolveKey(key), DhtOperation.DHT_OPERATION_REMOVE, EMPTY, false, deadline, context);
  }

  async route(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    return this.routeOp(resolveKey(key), DhtOperation.DHT_OPERATION_ROUTE, EMPTY, false, deadline, context);
  }

  /**
   * `diverted`: a root's own operation on the salted GUID of a diverted file, or on the GUID
   * that names one; `from`, for the put of a diverted file, the GUID whose redirect names it.
   */
  private async routeOp(guid: Id, operation: DhtOperation, value: Buffer, contentAddressed: boolean, deadline: number, context?: unknown, diverted?: { from?: Id; checkedVersion?: number }): Promise<Routed> {
    if (!diverted && this.leaving && (operation === DhtOperation.DHT_OPERATION_PUT || operation === DhtOperation.DHT_OPERATION_REMOVE)) {
      throw new UnavailableError('this node is leaving the ring; send writes to another node');
    }
    const payload = toBuffer(
      DhtRouted.encode({ operation, value, contentAddressed, origin: toNodeInfo(this.endpoint.self), diverted: diverted !== undefined, divertedFrom: diverted?.from ? idToBytes(diverted.from) : EMPTY, checkedVersion: diverted?.checkedVersion ?? 0 }).finish(),
    );
    const result = await this.endpoint.route(guid, payload, { deadline, context });
    const reply = DhtRoutedReply.decode(result.reply);
    return {
      guid,
      response: { found: reply.found, value: reply.value, acknowledged: reply.acknowledged, version: Number(reply.version), root: toNodeInfo(result.root), hops: result.hops.map(toNodeInfo) },
    };
  }

  /**
   * On the route, before the root: a node holding an intact replica answers a read, and so
   * does a node holding a cached copy under an unexpired lease. A node that is not a replica
   * sends the read on to the replica nearest to itself that it knows of or can guess (Pastry's
   * nearest-replica heuristic), so reads are served near their clients and spread over the k
   * replicas; a replica without the object sends it on towards the root, which reads them all.
   */
  async forward(message: RoutedMessage, next: NodeHandle | undefined): Promise<ForwardDecision> {
    if (next === undefined) return { action: 'continue' };
    const req = decodeRouted(message.payload);
    if (req.operation !== DhtOperation.DHT_OPERATION_GET) return { action: 'continue' };
    const now = this.clock.now();
    if (!this.endpoint.replicaSet(message.key, this.config.replicas).some((n) => n.id === this.endpoint.self.id)) {
      const cached = this.cache.get(message.key, now);
      if (cached) return { action: 'answer', reply: encodeDelivery({ found: true, value: cached.value, acknowledged: 0, version: cached.version }) };
      if (this.cache.enabled) this.forwardedAt.set(message, now);
      if (this.config.nearestReplicaReads === false) return { action: 'continue' };
      // Never back to a node the read already passed: a wrong guess must not make a loop.
      const visited = new Set(message.hops.map((n) => n.id));
      const origin = req.origin ? safeNode(req.origin) : undefined;
      if (origin) visited.add(origin.id);
      const nearest = this.endpoint.nearestReplica(message.key, this.config.replicas, visited);
      if (!nearest || nearest.id === next.id) return { action: 'continue' };
      if (this.endpoint.replicaSet(message.key, this.config.replicas).some((n) => n.id === next.id)) {
        const via = this.endpoint.proximity(next.id);
        const to = this.endpoint.proximity(nearest.id);
        if (to + Math.max(NEAREST_READS.minGainMs, via * NEAREST_READS.minGainShare) > via) return { action: 'continue' };
      }
      return { action: 'continue', next: nearest };
    }
    if (!this.local.healthy()) return { action: 'continue' };
    // Served by a replica other than the root: no lease, since only the root, which
    // coordinates every write, can revoke its leases before the write is acknowledged.
    // A diverted copy or file is the root's to follow: it reads every replica anyway.
    const { object } = await this.local.read(message.key, true);
    if (!object || object.tombstone || object.divertedTo || object.redirect) return { action: 'continue' };
    return { action: 'answer', reply: encodeDelivery({ found: true, value: object.value, acknowledged: 0, version: object.version }) };
  }

  update(): void {
    this.leafSetChangedAt = this.clock.now();
  }

  /**
   * A root that may be new to a key does not know the leases its predecessor granted: its
   * writes wait until any such lease has run out. That is one lease after its leaf set
   * changed, or a whole lease when a closer node is still in its leaf set (only suspected,
   * so routing delivered here in its place).
   */
  private async outwaitPredecessor(guid: Id): Promise<void> {
    if (this.leases.leaseMs <= 0) return;
    const closest = this.endpoint.replicaSet(guid, 1)[0];
    const since = closest && closest.id !== this.endpoint.self.id ? this.clock.now() : this.leafSetChangedAt;
    const wait = since + this.leases.leaseMs - this.clock.now();
    if (wait > 0) await new Promise<void>((resolve) => this.endpoint.setTimer(wait, resolve));
  }

  /** A read's answer passing back through this node: cached under the lease that came with it. */
  returned(message: RoutedMessage, reply: Buffer): void {
    const at = this.forwardedAt.get(message);
    if (at === undefined) return;
    const r = DhtRoutedReply.decode(reply);
    if (!r.found || r.leaseMs === 0 || r.writer.length !== 16) return;
    this.cache.put(message.key, { value: Buffer.from(r.value), version: Number(r.version), writer: r.writer.toString('hex'), tombstone: false }, at + r.leaseMs, this.clock.now());
  }

  /**
   * At the root: leases for the nodes the answer will pass through (the entry node and the
   * hops), on record before the copy is read, so that a write revokes them.
   */
  private grant(message: RoutedMessage, req: DhtRouted): number {
    if (this.leases.leaseMs <= 0) return 0;
    const self = this.endpoint.self.id;
    const holders = new Map<Id, NodeHandle>();
    const origin = req.origin ? safeNode(req.origin) : undefined;
    for (const n of [...(origin ? [origin] : []), ...message.hops]) if (n.id !== self) holders.set(n.id, n);
    return this.leases.grant(message.key, [...holders.values()], this.clock.now());
  }

  /**
   * Revokes the leases this replica granted on `guid` before a newer copy (or none, when it
   * drops its copy) takes effect: each holder is told, and one that does not answer is
   * waited out until its lease ends.
   */
  async revoke(guid: Id, newer: Versioned): Promise<void> {
    // A revocation already under way (the root's own replica write) is waited for too.
    const prior = this.revoking.get(guid);
    const leases = this.leases.take(guid, this.clock.now());
    if (!prior && leases.length === 0) return;
    const both = Promise.all([prior, leases.length > 0 ? this.sendRevocations(guid, newer, leases) : undefined]).then(() => undefined);
    this.revoking.set(guid, both);
    try {
      await both;
    } finally {
      if (this.revoking.get(guid) === both) this.revoking.delete(guid);
    }
  }

  private async sendRevocations(guid: Id, newer: Versioned, leases: { holder: NodeHandle; until: number }[]): Promise<void> {
    const request = { guid: Buffer.from(guid, 'hex'), version: newer.version, writer: Buffer.from(newer.writer.padEnd(32, '0'), 'hex'), tombstone: newer.tombstone };
    await Promise.all(
      leases.map(async ({ holder, until }) => {
        try {
          await callDht(this.endpoint, holder, 'invalidateCache', request, Math.min(until, this.clock.now() + (this.config.rpcTimeoutMs ?? 2000)));
        } catch {
          const wait = until - this.clock.now();
          if (wait > 0) await new Promise<void>((resolve) => this.endpoint.setTimer(wait, resolve));
        }
      }),
    );
  }

  async deliver(message: RoutedMessage): Promise<Buffer> {
    const req = decodeRouted(message.payload);
    return encodeDelivery(await this.serve(message.key, req, message.deadline, req.operation === DhtOperation.DHT_OPERATION_GET ? this.grant(message, req) : 0));
  }

  receive(from: NodeHandle, payload: Buffer): Promise<Buffer> {
    if (!this.receiver) throw new UnavailableError('the DHT is not started');
    return this.receiver(from, payload);
  }

  /** At the root: the operation, coordinated across the replicas. */
  async serve(guid: Id, req: DhtRouted, deadline: number, leaseMs = 0): Promise<Delivery> {
    switch (req.operation) {
      case DhtOperation.DHT_OPERATION_ROUTE:
        return { found: false, value: EMPTY, acknowledged: 0, version: 0 };
      case DhtOperation.DHT_OPERATION_PUT:
        return this.coordinatePut(guid, req, deadline);
      case DhtOperation.DHT_OPERATION_GET:
        return this.coordinateGet(guid, deadline, leaseMs);
      case DhtOperation.DHT_OPERATION_REMOVE:
        return this.coordinateRemove(guid, deadline);
      case DhtOperation.DHT_OPERATION_CHECK_REDIRECT:
        return this.coordinateCheckRedirect(guid, keyFromBytes(req.value, 'salted GUID'), Number(req.checkedVersion), deadline);
      default:
        throw new InvalidArgumentError(`unknown operation ${req.operation}`);
    }
  }

  /**
   * The local copy's metadata (a diversion pointer as it is, its value empty), or undefined
   * when absent, corrupt, or the store is down.
   */
  private async localCopy(guid: Id): Promise<StoredObject | undefined> {
    return (await this.localRead(guid, true)).object;
  }

  /** This node's copy (a diversion pointer followed), and whether it could be read at all. */
  private async localRead(guid: Id, pointers = false): Promise<{ object: StoredObject | undefined; ok: boolean }> {
    try {
      return { object: (await this.local.read(guid, pointers)).object, ok: true };
    } catch {
      return { object: undefined, ok: false };
    }
  }

  /**
   * Versions only grow: at least the clock, above the root's copy, above a version replicas
   * reported newer (`floor`), and above every version this node issued before, so that two
   * writes coordinated here in the same millisecond never share a (version, writer).
   */
  private nextVersion(previous: StoredObject | undefined, floor = 0): number {
    this.lastVersion = Math.max(this.clock.now(), (previous?.version ?? 0) + 1, floor + 1, this.lastVersion + 1);
    return this.lastVersion;
  }

  /**
   * Writes what `make(floor)` builds; when replicas kept a newer version (an earlier root's
   * clock ran ahead of ours), builds it again above that version and writes again.
   */
  private async writeAbove(make: (floor: number) => StoredObject, deadline: number): Promise<{ object: StoredObject; outcome: WriteOutcome }> {
    let floor = 0;
    for (let attempt = 1; ; attempt++) {
      const object = make(floor);
      try {
        return { object, outcome: await this.replication.write(object, deadline) };
      } catch (error) {
        if (!(error instanceof SupersededError) || attempt >= SUPERSEDED_RETRIES) throw error;
        floor = error.newerVersion;
      }
    }
  }

  private async coordinatePut(guid: Id, req: DhtRouted, deadline: number): Promise<Delivery> {
    this.checkValue(req.value);
    const hash = sha256(req.value).toString('hex');
    if (req.contentAddressed && hash.slice(0, 32) !== guid) {
      throw new InvalidArgumentError('content-addressed GUID does not match SHA-256 of the value');
    }
    const divertedFrom = req.diverted && req.divertedFrom.length > 0 ? keyFromBytes(req.divertedFrom, 'divertedFrom') : undefined;
    const previous = await this.localCopy(guid);
    // Content-addressed objects are immutable: the same bytes keep their version.
    const unchanged = req.contentAddressed && previous && !previous.tombstone && !previous.redirect && previous.hash === hash;
    const value = req.value;
    let written: { object: StoredObject; outcome: WriteOutcome };
    try {
      written = await this.writeAbove(
      (floor) =>
        unchanged && floor === 0
          ? { ...previous, value, divertedTo: undefined }
          : {
              guid,
              value,
              version: this.nextVersion(previous, floor),
              writer: this.endpoint.self.id,
              hash,
              size: req.value.length,
              createdAt: this.clock.now(),
              tombstone: false,
              contentAddressed: req.contentAddressed,
              ...(divertedFrom ? { divertedFrom } : {}),
            },
        deadline,
      );
    } catch (error) {
      // A file diverted here is refused, not diverted again: its root tries another salt.
      if (!(error instanceof ResourceExhaustedError) || req.diverted) throw error;
      return this.divertFile(guid, value, previous, error, deadline);
    }
    const { object, outcome } = written;
    if (previous?.redirect) await this.dropFile(previous.redirect, deadline);
    // No cached copy of an older version outlives the acknowledgement.
    await Promise.all([this.revoke(guid, object), this.outwaitPredecessor(guid)]);
    return { found: outcome.replacedLive, value: EMPTY, acknowledged: outcome.acknowledged, version: object.version };
  }

  /**
   * PAST's file diversion: no replica of `guid`, nor any neighbour they could divert to, has
   * room. The value is put under a salted GUID, rooted elsewhere on the ring, and the replicas
   * of `guid` keep a redirect to it (no bytes: it fits on a full node). Reads follow the
   * redirect; a remove or an overwrite removes the diverted file.
   */
  private async divertFile(guid: Id, value: Buffer, previous: StoredObject | undefined, full: ResourceExhaustedError, deadline: number): Promise<Delivery> {
    const salts = this.salts(guid);
    for (const salted of salts) {
      try {
        await this.routeOp(salted, DhtOperation.DHT_OPERATION_PUT, value, false, deadline, undefined, { from: guid });
      } catch (error) {
        if (error instanceof ResourceExhaustedError) continue;
        throw error;
      }
      const { object, outcome } = await this.writeAbove((floor) => this.emptyRecord(guid, previous, floor, { tombstone: false, redirect: salted }), deadline);
      if (previous?.redirect && previous.redirect !== salted) await this.dropFile(previous.redirect, deadline);
      this.stats.fileDiverted++;
      await Promise.all([this.revoke(guid, object), this.outwaitPredecessor(guid)]);
      return { found: outcome.replacedLive, value: EMPTY, acknowledged: outcome.acknowledged, version: object.version };
    }
    throw new ResourceExhaustedError(`${full.message}; and no room under ${salts.length} diverted GUIDs elsewhere on the ring`);
  }

  /**
   * Salted GUIDs for `guid`, up to FILE_DIVERSION.attempts: those in the range this node's
   * leaf set spans are passed over, since that neighbourhood is the one found full (on a ring
   * no larger than a leaf set, that is all of them).
   */
  private salts(guid: Id): Id[] {
    const out: Id[] = [];
    for (let i = 1; i <= FILE_DIVERSION.maxSalts && out.length < FILE_DIVERSION.attempts; i++) {
      const salted = saltedGuid(guid, i);
      if (!this.endpoint.leafSetCovers(salted)) out.push(salted);
    }
    return out;
  }

  /** Removes a diverted file its redirect no longer names. */
  private async dropFile(salted: Id, deadline: number): Promise<void> {
    try {
      await this.routeOp(salted, DhtOperation.DHT_OPERATION_REMOVE, EMPTY, false, deadline, undefined, {});
    } catch {
      // Unreachable now: its root finds it left over later (maintainDivertedFiles).
    }
  }

  /**
   * At the root of `guid`: whether `salted`, a diverted file whose copy has version `checked`,
   * may still be named by `guid`'s redirect. Only positive evidence says no: a record of
   * `guid` newer than that copy that does not redirect to it, read from as many replicas as a
   * read that finds nothing needs, by a root whose leaf set has been stable for a while. A
   * root that finds no record at all may be new to the key (after a partition, or before a
   * handoff), so that is a yes: a file kept too long costs bytes, one dropped too soon is lost.
   */
  private async coordinateCheckRedirect(guid: Id, salted: Id, checked: number, deadline: number): Promise<Delivery> {
    const named = (version: number): Delivery => ({ found: true, value: EMPTY, acknowledged: 0, version });
    const { object: local, ok } = await this.localRead(guid, true);
    if (local?.redirect === salted) return named(local.version);
    if (this.clock.now() - this.leafSetChangedAt < FILE_DIVERSION.stableLeafSetMs) throw new UnavailableError(`the root of ${guid} changed its leaf set lately; ask again later`);
    const { newest, answered, needed } = await this.replication.readFromReplicas(guid, local, deadline);
    if (!newest || newest.redirect === salted || newest.version <= checked) return named(newest?.version ?? 0);
    const heard = answered + (ok ? 1 : 0);
    if (heard < needed) throw new UnavailableError(`only ${heard} of the ${needed} replicas needed to tell whether ${guid} still redirects to ${salted} answered`);
    return { found: false, value: EMPTY, acknowledged: 0, version: newest.version };
  }

  /**
   * Diverted files this node is the root of, a page a round (anti-entropy calls this): one
   * whose original no longer redirects to it, because the remove or overwrite that should have
   * taken it could not reach it, is removed. Returns how many were.
   * - Only files older than FILE_DIVERSION.orphanGraceMs are looked at: a put stores the file
   *   before the redirect to it, and must not find it gone.
   * - The tombstone is one version above the copy looked at, so a newer put of the same salted
   *   GUID (salts are deterministic) wins over it wherever they meet.
   */
  async maintainDivertedFiles(deadline: number): Promise<number> {
    if (!this.local?.healthy()) return 0;
    const page = await this.local.store.divertedFiles(this.fileCursor, FILE_DIVERSION.checksPerRound);
    // Only an empty page starts the pass over: a short one may be short for an entry removed meanwhile.
    this.fileCursor = page.length === 0 ? undefined : page[page.length - 1]!.guid;
    const settled = this.clock.now() - FILE_DIVERSION.orphanGraceMs;
    let dropped = 0;
    for (const file of page) {
      if (this.clock.now() >= deadline) break;
      if (file.tombstone || !file.divertedFrom || file.createdAt > settled) continue;
      if (this.endpoint.replicaSet(file.guid, 1)[0]?.id !== this.endpoint.self.id) continue;
      try {
        const r = await this.routeOp(file.divertedFrom, DhtOperation.DHT_OPERATION_CHECK_REDIRECT, idToBytes(file.guid), false, deadline, undefined, { checkedVersion: file.version });
        if (r.response.found) continue;
        const tombstone: StoredObject = { ...this.emptyRecord(file.guid, undefined, 0, { tombstone: true }), version: file.version + 1 };
        // Never again a version at or below this one from this node (a put of the same salted GUID).
        this.lastVersion = Math.max(this.lastVersion, tombstone.version);
        await this.replication.write(tombstone, deadline);
        await this.revoke(file.guid, tombstone);
        this.stats.filesDropped++;
        dropped++;
      } catch {
        // Unsure (the original's replicas did not answer) or superseded: looked at again next pass.
      }
    }
    return dropped;
  }

  /** A diverted file, read under its salted GUID and answered as the redirect's version. */
  private async followRedirect(guid: Id, redirect: StoredObject, deadline: number, leaseMs?: number): Promise<Delivery> {
    const r = await this.routeOp(redirect.redirect!, DhtOperation.DHT_OPERATION_GET, EMPTY, false, deadline, undefined, {});
    if (!r.response.found) throw new UnavailableError(`${guid} was diverted to ${redirect.redirect}, which cannot be found`);
    return { found: true, value: r.response.value, acknowledged: 0, version: redirect.version, ...(leaseMs !== undefined ? { leaseMs, writer: redirect.writer } : {}) };
  }

  private async coordinateGet(guid: Id, deadline: number, leaseMs: number): Promise<Delivery> {
    const { object: local, ok: localOk } = await this.localRead(guid);
    if (local?.redirect) return this.followRedirect(guid, local, deadline, leaseMs);
    if (local && !local.tombstone) return { found: true, value: local.value, acknowledged: 0, version: local.version, leaseMs, writer: local.writer };
    const { newest, answered, needed } = await this.replication.readFromReplicas(guid, local, deadline);
    if (newest?.redirect) return this.followRedirect(guid, newest, deadline);
    // Found on another replica only: this node's lease does not cover it.
    if (newest && !newest.tombstone) return { found: true, value: newest.value, acknowledged: 0, version: newest.version };
    // Replicas that did not answer may hold it: that is not an absence, and never a NOT_FOUND.
    const heard = answered + (localOk ? 1 : 0);
    if (heard < needed) throw new UnavailableError(`only ${heard} of the ${needed} replicas needed to tell that ${guid} is absent answered; try again`);
    return { found: false, value: EMPTY, acknowledged: 0, version: newest?.version ?? 0 };
  }

  /** A record with no bytes, newer than `previous`: a tombstone, or a file diversion's redirect. */
  private emptyRecord(guid: Id, previous: StoredObject | undefined, floor: number, kind: { tombstone: boolean; redirect?: Id }): StoredObject {
    return {
      guid,
      value: EMPTY,
      version: this.nextVersion(previous, floor),
      writer: this.endpoint.self.id,
      hash: sha256(EMPTY).toString('hex'),
      size: 0,
      createdAt: this.clock.now(),
      tombstone: kind.tombstone,
      contentAddressed: false,
      ...(kind.redirect ? { redirect: kind.redirect } : {}),
    };
  }

  private async coordinateRemove(guid: Id, deadline: number): Promise<Delivery> {
    const previous = await this.localCopy(guid);
    const { object: tombstone, outcome } = await this.writeAbove((floor) => this.emptyRecord(guid, previous, floor, { tombstone: true }), deadline);
    if (previous?.redirect) await this.dropFile(previous.redirect, deadline);
    await Promise.all([this.revoke(guid, tombstone), this.outwaitPredecessor(guid)]);
    const found = outcome.replacedLive || (previous !== undefined && !previous.tombstone);
    return { found, value: EMPTY, acknowledged: outcome.acknowledged, version: tombstone.version };
  }

  private checkValue(value: Buffer): void {
    if (value.length > this.config.maxValueBytes) {
      throw new ResourceExhaustedError(`value is ${value.length} bytes, over the limit of ${this.config.maxValueBytes}`);
    }
  }
}

function decodeRouted(payload: Buffer): DhtRouted {
  try {
    return DhtRouted.decode(payload);
  } catch (error) {
    throw new InvalidArgumentError(`malformed DHT operation: ${(error as Error).message}`);
  }
}

function encodeDelivery(d: Delivery): Buffer {
  return toBuffer(
    DhtRoutedReply.encode({ found: d.found, value: d.value, acknowledged: d.acknowledged, version: d.version, leaseMs: d.leaseMs ?? 0, writer: d.writer ? Buffer.from(d.writer, 'hex') : EMPTY }).finish(),
  );
}

function safeNode(info: NodeInfo): NodeHandle | undefined {
  try {
    return fromNodeInfo(info, 'origin');
  } catch {
    return undefined;
  }
}

/** A Key names exactly one of a 16-byte GUID or a non-empty name. */
export function resolveKey(key: Key | undefined): Id {
  const hasGuid = key !== undefined && key.guid.length > 0;
  const hasName = key !== undefined && key.name.length > 0;
  if (hasGuid === hasName) throw new InvalidArgumentError('key needs exactly one of guid (16 bytes) or a non-empty name');
  if (hasGuid) return keyFromBytes(key!.guid, 'key.guid');
  if (Buffer.byteLength(key!.name) > LIMITS.maxNameBytes) throw new InvalidArgumentError(`name is longer than ${LIMITS.maxNameBytes} bytes`);
  return guidForName(key!.name);
}

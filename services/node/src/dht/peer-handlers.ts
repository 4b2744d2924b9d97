import { DIVERSION, REPLICATION } from '../constants';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors';
import type { ObjectMeta } from '../gen/pastry/v1/dht_peer';
import { fromNodeInfo, keyFromBytes } from '../overlay/codec';
import type { StoredObject } from '../store/store';
import type { AntiEntropy } from './anti-entropy';
import { compareVersions } from '../core/replicas';
import type { Versioned } from './cache';
import type { Diversion } from './diversion';
import { decodeDirect, encodeReply, type DhtCalls } from './peer-messages';
import { fromRecord, toMeta, toRecord } from './records';
import type { ReplicaStore } from './replica-store';

const EMPTY = Buffer.alloc(0);

/** The DHT's answers to direct messages from other replicas. Everything is validated first. */
export class DhtPeerHandlers {
  constructor(
    private readonly local: ReplicaStore,
    private readonly antiEntropy: AntiEntropy,
    private readonly maxValueBytes: number,
    /** Drops a cached copy older than the one a replica now holds. */
    private readonly invalidate: (guid: string, newer: Versioned) => void = () => undefined,
    /** Places the copies this node has no room for on a neighbour; none: refused. */
    private readonly diversion?: Diversion,
  ) {}

  async receive(payload: Buffer): Promise<Buffer> {
    const { method, request } = decodeDirect(payload);
    switch (method) {
      case 'storeReplicas':
        return encodeReply(method, await this.storeReplicas(request as DhtCalls['storeReplicas'][0]));
      case 'fetchReplicas':
        return encodeReply(method, await this.fetchReplicas(request as DhtCalls['fetchReplicas'][0]));
      case 'syncDigest':
        return encodeReply(method, await this.syncDigest(request as DhtCalls['syncDigest'][0]));
      case 'listObjects':
        return encodeReply(method, await this.listObjects(request as DhtCalls['listObjects'][0]));
      case 'invalidateCache': {
        const req = request as DhtCalls['invalidateCache'][0];
        const guid = keyFromBytes(req.guid, 'guid');
        if (req.writer.length !== 16) throw new InvalidArgumentError('writer must be a 16-byte id');
        this.invalidate(guid, { version: Number(req.version), writer: req.writer.toString('hex'), tombstone: req.tombstone });
        return encodeReply(method, {});
      }
      case 'syncTree':
        return encodeReply(method, await this.antiEntropy.handleSyncTree(request as DhtCalls['syncTree'][0]));
    }
  }

  async storeReplicas(req: DhtCalls['storeReplicas'][0]): Promise<DhtCalls['storeReplicas'][1]> {
    if (req.objects.length > REPLICATION.maxObjectsPerMessage) throw new InvalidArgumentError(`at most ${REPLICATION.maxObjectsPerMessage} objects per message`);
    const objects = req.objects.map((r) => fromRecord(r, this.maxValueBytes));
    // A leaving node's handoff: what it hands over stays here, it does not go back to it.
    if (req.senderLeavingMs > 0 && req.sender) this.antiEntropy.departing(fromNodeInfo(req.sender, 'sender').id, req.senderLeavingMs);
    let applied = 0;
    let stale = 0;
    let replacedLive = 0;
    const newer: ObjectMeta[] = [];
    const noRoom: StoredObject[] = [];
    let full: ResourceExhaustedError | undefined;
    const applyOne = async (o: StoredObject): Promise<void> => {
      if (req.diverted && (await this.holdsCopy(o))) {
        // One holder per copy: a second replica's copy here would leave fewer than k nodes holding it.
        noRoom.push(o);
        return;
      }
      let outcome;
      try {
        // A diverted copy leaves room for the node's own replicas.
        outcome = await this.local.apply(o, req.diverted ? DIVERSION.maxUtilization : 1);
      } catch (error) {
        if (!(error instanceof ResourceExhaustedError)) throw error;
        full = error;
        noRoom.push(o);
        return;
      }
      const { result, previous } = outcome;
      if (req.diverted && result === 'same') {
        // Another replica's copy came first (both were in flight): this one goes elsewhere.
        noRoom.push(o);
        return;
      }
      if (result === 'applied') applied++;
      else stale++;
      if (result === 'applied' && previous && !previous.tombstone && !previous.divertedTo) replacedLive++;
      if (result === 'newer') newer.push(toMeta(previous!));
    };
    // Several at once: the store's round trips overlap (Redis takes them as one pipeline),
    // and the replica store keeps one write at a time per GUID and reserves room for each.
    for (let i = 0; i < objects.length; i += REPLICATION.applyWindow) await Promise.all(objects.slice(i, i + REPLICATION.applyWindow).map(applyOne));
    const pointed: Buffer[] = [];
    let diverted = 0;
    let placed = new Map<string, 'diverted' | 'pointed'>();
    // A diverted copy is never diverted further: its holder is the one that had no room.
    if (noRoom.length > 0 && this.diversion && !req.diverted) {
      const sender = req.sender ? fromNodeInfo(req.sender) : undefined;
      placed = await this.diversion.divert(noRoom, this.diversion.soon(), { sender, senderKeeps: req.senderKeeps });
      for (const [guid, how] of placed) {
        if (how === 'pointed') pointed.push(Buffer.from(guid, 'hex'));
        else diverted++;
      }
    }
    const refused = noRoom.filter((o) => !placed.has(o.guid)).map((o) => Buffer.from(o.guid, 'hex'));
    if (full && applied + stale + diverted + pointed.length === 0) throw full;
    return { applied: applied + diverted, stale, replacedLive, newer, refused, pointed, diverted, utilization: { share: this.local.utilization() } };
  }

  /** Whether this node holds `o`'s bytes at its version or newer. */
  private async holdsCopy(o: StoredObject): Promise<boolean> {
    const current = await this.local.store.get(o.guid);
    return current !== undefined && !current.divertedTo && compareVersions(current, o) >= 0;
  }

  async fetchReplicas(req: DhtCalls['fetchReplicas'][0]): Promise<DhtCalls['fetchReplicas'][1]> {
    if (req.guids.length > REPLICATION.maxObjectsPerMessage) throw new InvalidArgumentError(`at most ${REPLICATION.maxObjectsPerMessage} GUIDs per message`);
    const guids = req.guids.map((g, i) => keyFromBytes(g, `guids[${i}]`));
    // A pointer this node cannot follow fails the whole answer: absent it is not.
    const found = await Promise.all(guids.map((g) => this.local.read(g, req.metaOnly)));
    const objects = found.map((f) => f.object).filter((o) => o !== undefined);
    return { objects: objects.map((o) => toRecord(req.metaOnly ? { ...o, value: EMPTY } : o)) };
  }

  syncDigest(req: DhtCalls['syncDigest'][0]): Promise<DhtCalls['syncDigest'][1]> {
    if (req.buckets.length > REPLICATION.digestBuckets) throw new InvalidArgumentError(`at most ${REPLICATION.digestBuckets} buckets`);
    return this.antiEntropy.handleSyncDigest(req);
  }

  async listObjects(req: DhtCalls['listObjects'][0]): Promise<DhtCalls['listObjects'][1]> {
    const { from, to, includeTombstones } = req;
    const limit = Math.min(req.limit || REPLICATION.maxListObjects, REPLICATION.maxListObjects);
    const lo = from.length === 0 ? '0'.repeat(32) : keyFromBytes(from, 'from');
    const hi = to.length === 0 ? 'f'.repeat(32) : keyFromBytes(to, 'to');
    const objects = await this.local.store.range(lo, hi, limit + 1, { values: false });
    const visible = objects.filter((o) => includeTombstones || !o.tombstone);
    return { objects: visible.slice(0, limit).map(toMeta), truncated: objects.length > limit };
  }
}

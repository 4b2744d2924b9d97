import { REPLICATION } from '../constants';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors';
import type { ObjectMeta } from '../gen/pastry/v1/dht_peer';
import { keyFromBytes } from '../overlay/codec';
import type { AntiEntropy } from './anti-entropy';
import type { Versioned } from './cache';
import { decodeDirect, encodeReply, type DhtCalls } from './peer-messages';
import { fromRecord, toMeta, toRecord } from './records';
import type { ReplicaStore } from './replica-store';

/** The DHT's answers to direct messages from other replicas. Everything is validated first. */
export class DhtPeerHandlers {
  constructor(
    private readonly local: ReplicaStore,
    private readonly antiEntropy: AntiEntropy,
    private readonly maxValueBytes: number,
    /** Drops a cached copy older than the one a replica now holds. */
    private readonly invalidate: (guid: string, newer: Versioned) => void = () => undefined,
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
    let applied = 0;
    let stale = 0;
    let replacedLive = 0;
    const newer: ObjectMeta[] = [];
    const refused: Buffer[] = [];
    let full: ResourceExhaustedError | undefined;
    for (const o of objects) {
      let outcome;
      try {
        outcome = await this.local.apply(o);
      } catch (error) {
        if (!(error instanceof ResourceExhaustedError)) throw error;
        full = error;
        refused.push(Buffer.from(o.guid, 'hex'));
        continue;
      }
      const { result, previous } = outcome;
      if (result === 'applied') applied++;
      else stale++;
      if (result === 'applied' && previous && !previous.tombstone) replacedLive++;
      if (result === 'newer') newer.push(toMeta(previous!));
    }
    if (full && applied + stale === 0) throw full;
    return { applied, stale, replacedLive, newer, refused };
  }

  async fetchReplicas(req: DhtCalls['fetchReplicas'][0]): Promise<DhtCalls['fetchReplicas'][1]> {
    if (req.guids.length > REPLICATION.maxObjectsPerMessage) throw new InvalidArgumentError(`at most ${REPLICATION.maxObjectsPerMessage} GUIDs per message`);
    const guids = req.guids.map((g, i) => keyFromBytes(g, `guids[${i}]`));
    const found = await Promise.all(guids.map((g) => this.local.read(g)));
    return { objects: found.map((f) => f.object).filter((o) => o !== undefined).map(toRecord) };
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

import { type Id, idToBytes } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { FILES } from '../constants';
import { sha256 } from '../dht/guid';
import type { Dht } from '../dht/dht';
import type { ReplicaStore } from '../dht/replica-store';
import { DataLossError, NotFoundError, UnavailableError } from '../errors';
import { FetchChunkReply, LocateChunkReply } from '../gen/pastry/v1/files_peer';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { fromNodeInfo } from '../overlay/codec';
import type { ChunkCache } from './chunk-cache';
import { pieceGuid, pieceName } from './format';
import { encodeFetch, encodeLocate } from './messages';

/** Where a chunk's bytes came from, counted per node (the swarm measure). */
export type Source = 'cache' | 'local' | 'provider' | 'replica' | 'routed';

export interface FetchStats {
  chunks: Record<Source, number>;
  bytes: Record<Source, number>;
  /** Copies that did not match their hash, or were missing where they should be. */
  corrupt: number;
  repaired: number;
  failed: number;
}

export function emptyStats(): FetchStats {
  const zero = (): Record<Source, number> => ({ cache: 0, local: 0, provider: 0, replica: 0, routed: 0 });
  return { chunks: zero(), bytes: zero(), corrupt: 0, repaired: 0, failed: 0 };
}

export interface FetcherConfig {
  replicas: number;
  rpcTimeoutMs: number;
}

/**
 * Fetches one chunk, verified: from this node's cache, else from the nodes its root names
 * (providers that fetched it first, then its replicas, nearest first), else by a routed DHT
 * read. A copy that fails its hash is never used, and a replica found corrupt or missing is
 * rewritten from the good copy.
 */
export class ChunkFetcher {
  readonly stats = emptyStats();
  private readonly inflight = new Map<Id, Promise<Buffer>>();
  private repairs = 0;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly dht: Dht,
    private readonly local: ReplicaStore,
    readonly cache: ChunkCache,
    private readonly config: FetcherConfig,
    private readonly log: Logger,
  ) {}

  /** The fetch of `guid` under way on this node, if any (another node asked for it). */
  pending(guid: Id): Promise<Buffer> | undefined {
    return this.inflight.get(guid);
  }

  fetch(salt: Buffer, hash: Buffer, deadline: number): Promise<Buffer> {
    const guid = pieceGuid(salt, hash);
    const cached = this.cache.get(guid);
    if (cached && sha256(cached).equals(hash)) {
      this.count('cache', cached.length);
      return Promise.resolve(cached);
    }
    const running = this.inflight.get(guid);
    if (running) return running;
    const p = this.fetchFromSources(guid, salt, hash, deadline).finally(() => this.inflight.delete(guid));
    this.inflight.set(guid, p);
    return p;
  }

  private async fetchFromSources(guid: Id, salt: Buffer, hash: Buffer, deadline: number): Promise<Buffer> {
    let unreachable = 0;
    let bad = 0;
    let missing = 0;
    const verified = (data: Buffer | undefined, source: Source): Buffer | undefined => {
      if (!data) return undefined;
      if (!sha256(data).equals(hash)) {
        bad++;
        this.stats.corrupt++;
        return undefined;
      }
      this.count(source, data.length);
      this.cache.put(guid, data);
      return data;
    };
    const self = this.endpoint.self.id;
    if (this.endpoint.replicaSet(guid, this.config.replicas).some((n) => n.id === self)) {
      const got = verified(await this.readLocal(guid), 'local');
      if (got) return got;
    }
    let located: { replicas: NodeHandle[]; providers: NodeHandle[] } = { replicas: [], providers: [] };
    try {
      located = await this.locate(guid, deadline);
    } catch {
      unreachable++;
    }
    const sources = [
      ...located.providers.slice(0, FILES.providersTried).map((node) => ({ node, source: 'provider' as const })),
      ...this.nearestFirst(located.replicas).map((node) => ({ node, source: 'replica' as const })),
    ]
      .filter((s) => s.node.id !== self)
      .slice(0, FILES.maxSourcesPerChunk);
    for (const { node, source } of sources) {
      if (this.endpoint.now() >= deadline) break;
      try {
        const got = verified(await this.fetchFrom(node, guid, deadline, source === 'provider' ? FILES.providerWaitMs : 0), source);
        if (got) {
          if (source === 'replica' && bad + missing > 0) this.repair(salt, got);
          return got;
        }
        if (source === 'replica') missing++;
      } catch {
        unreachable++;
      }
    }
    // The DHT's own read: follows diverted copies and whatever the route reaches first.
    try {
      const routed = await this.dht.get({ guid: idToBytes(guid), name: '' }, deadline);
      const got = verified(routed.response.value, 'routed');
      if (got) {
        if (bad + missing > 0) this.repair(salt, got);
        return got;
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) unreachable++;
    }
    this.stats.failed++;
    if (bad > 0 && unreachable === 0) throw new DataLossError(`no intact copy of chunk ${guid} (${bad} copies failed their hash)`);
    if (unreachable === 0) throw new NotFoundError(`chunk ${guid} is on no replica`);
    throw new UnavailableError(`chunk ${guid} could not be fetched (${unreachable} sources unreachable)`);
  }

  private async readLocal(guid: Id): Promise<Buffer | undefined> {
    try {
      const { object } = await this.local.read(guid);
      return object && !object.tombstone ? object.value : undefined;
    } catch {
      return undefined;
    }
  }

  /** Asks the chunk's root who has it; the root records this node as a provider. */
  private async locate(guid: Id, deadline: number): Promise<{ replicas: NodeHandle[]; providers: NodeHandle[] }> {
    const result = await this.endpoint.route(guid, encodeLocate(this.endpoint.self), { deadline: Math.min(deadline, this.endpoint.now() + 2 * this.config.rpcTimeoutMs) });
    const reply = LocateChunkReply.decode(result.reply);
    const safe = (list: typeof reply.replicas): NodeHandle[] =>
      list.flatMap((n) => {
        try {
          return [fromNodeInfo(n)];
        } catch {
          return [];
        }
      });
    return { replicas: safe(reply.replicas), providers: safe(reply.providers) };
  }

  private async fetchFrom(node: NodeHandle, guid: Id, deadline: number, waitMs: number): Promise<Buffer | undefined> {
    const reply = FetchChunkReply.decode(
      await this.endpoint.send(node, encodeFetch(guid, waitMs), { deadline: Math.min(deadline, this.endpoint.now() + waitMs + 2 * this.config.rpcTimeoutMs) }),
    );
    return reply.found ? Buffer.from(reply.data) : undefined;
  }

  /** Replicas by measured round trip, unmeasured ones after, in random order among equals. */
  private nearestFirst(nodes: NodeHandle[]): NodeHandle[] {
    return nodes
      .map((node) => ({ node, rtt: this.endpoint.proximity(node.id), tie: this.endpoint.random() }))
      .sort((a, b) => a.rtt - b.rtt || a.tie - b.tie)
      .map((x) => x.node);
  }

  /** Rewrites a chunk whose copies were corrupt or missing, in the background, a few at a time. */
  private repair(salt: Buffer, data: Buffer): void {
    if (this.repairs >= FILES.repairFanout) return;
    this.repairs++;
    const name = pieceName(salt, sha256(data));
    this.dht
      .put(name, data, this.endpoint.now() + 4 * this.config.rpcTimeoutMs)
      .then(
        () => {
          this.stats.repaired++;
          this.log.info('chunk_repaired', { guid: pieceGuid(salt, sha256(data)) });
        },
        (error: unknown) => this.log.warn('chunk_repair_failed', { error: String(error) }),
      )
      .finally(() => this.repairs--);
  }

  private count(source: Source, bytes: number): void {
    this.stats.chunks[source]++;
    this.stats.bytes[source] += bytes;
  }
}

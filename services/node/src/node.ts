import { randomBytes } from 'node:crypto';
import { idFromBytes } from './core/id';
import type { NodeHandle } from './core/node-handle';
import type { NodeConfig } from './config';
import { Diversion } from './dht/diversion';
import { AntiEntropy } from './dht/anti-entropy';
import { Dht } from './dht/dht';
import { ReplicaStore } from './dht/replica-store';
import { Replication } from './dht/replication';
import { createLogger, type Logger } from './logger';
import { DhtPeerHandlers } from './dht/peer-handlers';
import { Files } from './files/files';
import { Compute, COMPUTE_APP } from './compute/compute';
import { computeService } from './rpc/compute-service';
import { FILES_APP } from './files/messages';
import { FILES } from './constants';
import { filesService } from './rpc/files-service';
import { messagingService } from './rpc/messaging-service';
import { Scribe } from './scribe/scribe';
import { SCRIBE_APP } from './scribe/messages';
import { Overlay } from './overlay/overlay';
import { dhtService } from './rpc/dht-service';
import { PeerPool } from './rpc/peer-client';
import { peerService } from './rpc/peer-service';
import { GrpcEnv } from './transport/grpc-env';
import { RpcServer } from './rpc/server';
import { MemoryStore } from './store/memory-store';
import type { Store } from './store/store';
import { Telemetry } from './telemetry/telemetry';
import { nodeIdFor, type IdScheme } from './node-id';

/** Node id: from the stable name by the id scheme (a restarted pod keeps its id), else random. */
export function nodeId(name: string, scheme: IdScheme): string {
  return name ? nodeIdFor(name, scheme) : idFromBytes(randomBytes(16));
}

/** How often readiness follows the store's health. */
const HEALTH_CHECK_INTERVAL_MS = 500;

/** Wires one node together: store, overlay, DHT, gRPC server. The only composition root. */
export class PastryNode {
  readonly self: NodeHandle;
  readonly log: Logger;
  readonly store: Store;
  readonly local: ReplicaStore;
  readonly overlay: Overlay;
  readonly replication: Replication;
  readonly antiEntropy: AntiEntropy;
  /** Replica diversion (always on: it acts only on a full store). */
  readonly diversion: Diversion | undefined;
  readonly dht: Dht;
  readonly files: Files;
  readonly scribe: Scribe;
  readonly compute: Compute;
  readonly rpc: RpcServer;
  readonly telemetry: Telemetry;
  private readonly peers: PeerPool;
  private healthTimer: NodeJS.Timeout | undefined;
  private started = false;
  boundPort = 0;

  constructor(
    readonly config: NodeConfig,
    store?: Store,
  ) {
    const clock = { now: () => Date.now() };
    this.self = { id: nodeId(config.nodeName, config.idScheme), address: config.advertiseAddress, name: config.nodeName };
    this.log = createLogger({ node: this.self.id, name: config.nodeName }, config.logLevel);
    this.telemetry = new Telemetry(this.self, { host: config.host, metricsPort: config.metricsPort }, this.log);
    this.peers = new PeerPool(this.telemetry.rpc, config.peerTransport === 'frames');
    this.store = this.telemetry.instrumentStore(store ?? (config.store === 'redis' ? redisStore(config.redisUrl) : new MemoryStore()));
    this.overlay = new Overlay(this.self, new GrpcEnv(this.peers), config, this.log, this.telemetry.overlayHooks());
    this.telemetry.watchOverlay(this.overlay, () => this.ready);
    const parts = assembleDht(this.overlay, this.store, config, this.log);
    this.local = parts.local;
    this.replication = parts.replication;
    this.antiEntropy = parts.antiEntropy;
    this.diversion = parts.diversion;
    this.dht = parts.dht;
    this.files = assembleFiles(this.overlay, parts, config, this.log);
    this.scribe = assembleScribe(this.overlay, parts.dht, config, this.log);
    this.compute = assembleCompute(this.overlay, parts, this.files, config, this.log);
    this.telemetry.watchReplication(this.antiEntropy.stats);
    this.telemetry.watchCapacity(config.capacityBytes);
    this.telemetry.watchCache(this.dht.cache);
    this.telemetry.watchFiles(this.files);
    this.telemetry.watchScribe(this.scribe);
    this.telemetry.watchCompute(this.compute);
    this.telemetry.watchDiversion(this.diversion?.stats, this.dht.stats);
    this.rpc = new RpcServer(
      dhtService({ dht: this.dht, overlay: this.overlay, store: this.store, log: this.log, telemetry: this.telemetry.rpc, now: clock.now }),
      peerService({ overlay: this.overlay, log: this.log, telemetry: this.telemetry.rpc, now: clock.now, rpcTimeoutMs: config.rpcTimeoutMs, selfId: this.self.id }),
      filesService({ files: this.files, log: this.log, telemetry: this.telemetry.rpc }),
      messagingService({ scribe: this.scribe, log: this.log, telemetry: this.telemetry.rpc }),
      computeService({ compute: this.compute, log: this.log, telemetry: this.telemetry.rpc }),
    );
  }

  /** Ready: joined the ring and the store reachable. */
  get ready(): boolean {
    return this.overlay.ready && this.store.healthy();
  }

  /** Serves, then joins the ring; readiness turns on once joined. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.telemetry.start();
    await this.store.start();
    this.boundPort = await this.rpc.bind(this.config.host, this.config.port);
    this.log.info('listening', { address: this.self.address, port: this.boundPort, store: this.store.kind, peerTransport: this.config.peerTransport });
    let wasHealthy = this.store.healthy();
    this.healthTimer = setInterval(() => {
      const healthy = this.store.healthy();
      if (healthy !== wasHealthy) this.log.warn(healthy ? 'store_recovered' : 'store_unavailable', { store: this.store.kind });
      wasHealthy = healthy;
      this.rpc.setReady(this.ready);
    }, HEALTH_CHECK_INTERVAL_MS);
    this.healthTimer.unref();
    await this.overlay.start();
    this.rpc.setReady(this.ready);
    this.antiEntropy.start();
    this.scribe.start();
  }

  /**
   * Graceful leave: not ready at once, no new writes, objects handed to the replica sets
   * that remain, the leaf set told, then the server stops — all within the grace period.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.rpc.setReady(false);
    this.dht.stopAcceptingWrites();
    this.scribe.stop();
    await this.antiEntropy.stop();
    if (this.overlay.ready && this.store.healthy()) {
      const budget = Math.max(0, this.config.shutdownGraceMs - 2000);
      const started = Date.now();
      const { handedOff, failed } = await this.antiEntropy.handOffAll(started + budget).catch(() => ({ handedOff: 0, failed: -1 }));
      this.log.info('handoff', { handedOff, failed, ms: Date.now() - started });
      await this.overlay.announceLeave();
    }
    this.overlay.stop();
    await this.compute.stop();
    await this.rpc.stop(Math.min(this.config.shutdownGraceMs, 2000));
    this.peers.close();
    await this.store.stop();
    await this.telemetry.stop();
    this.log.info('stopped');
  }
}

export interface DhtParts {
  local: ReplicaStore;
  replication: Replication;
  antiEntropy: AntiEntropy;
  /** Replica diversion: undefined when turned off. */
  diversion: Diversion | undefined;
  dht: Dht;
}

export type DhtSettings = Pick<NodeConfig, 'replicas' | 'writeQuorum' | 'rpcTimeoutMs' | 'maxValueBytes' | 'antiEntropyIntervalMs' | 'tombstoneGraceMs'> & {
  /** Value bytes of live objects the node stores at most; 0 or unset: no limit. */
  capacityBytes?: number;
  /** A full replica diverts copies to a neighbour (PAST replica diversion); on unless false. */
  diversion?: boolean;
  /** Lease on copies cached along a read's route; 0 or unset: no caching. */
  cacheLeaseMs?: number;
  /** Bytes of cached copies kept at most. */
  cacheBytes?: number;
  /** Reads go to the replica nearest each hop (Pastry's heuristic); on unless false. */
  nearestReplicaReads?: boolean;
  /** Objects read from the store at a time (REPLICATION.scanPageObjects unless set; tests make it small). */
  scanPageObjects?: number;
  /** A differing range this small is compared entry by entry (REPLICATION.entrySyncObjects unless set). */
  entrySyncObjects?: number;
  /** Value bytes read ahead of a push (REPLICATION.pushWindowBytes unless set; tests make it small). */
  pushWindowBytes?: number;
  /** Objects anti-entropy repairs per peer per round (REPLICATION.maxRepairsPerPeerPerRound unless set; tests make it small). */
  repairsPerPeerPerRound?: number;
};

/** The DHT application and its parts on one node's overlay: the same wiring for every driver. */
export function assembleDht(overlay: Overlay, store: Store, config: DhtSettings, log: Logger): DhtParts {
  let dht: Dht | undefined;
  const endpoint = overlay.register({
    id: 'dht',
    forward: (m, next) => dht!.forward(m, next),
    returned: (m, reply) => dht!.returned(m, reply),
    update: () => dht!.update(),
    deliver: (m) => dht!.deliver(m),
    receive: (from, payload) => dht!.receive(from, payload),
  });
  const local = new ReplicaStore(store, config.capacityBytes ?? 0);
  const diversion = config.diversion === false ? undefined : new Diversion(endpoint, local, { replicas: config.replicas, rpcTimeoutMs: config.rpcTimeoutMs, maxValueBytes: config.maxValueBytes }, log);
  if (diversion) local.resolver = (pointer) => diversion.resolve(pointer, diversion.soon());
  const replication = new Replication(endpoint, local, config, endpoint, log, diversion);
  const antiEntropy = new AntiEntropy(
    endpoint,
    local,
    replication,
    { replicas: config.replicas, intervalMs: config.antiEntropyIntervalMs, tombstoneGraceMs: config.tombstoneGraceMs, rpcTimeoutMs: config.rpcTimeoutMs, scanPageObjects: config.scanPageObjects, entrySyncObjects: config.entrySyncObjects, pushWindowBytes: config.pushWindowBytes, repairsPerPeerPerRound: config.repairsPerPeerPerRound },
    endpoint,
    log,
    diversion,
  );
  dht = new Dht(endpoint, { ...config, cacheLeaseMs: config.cacheLeaseMs ?? 0, cacheBytes: config.cacheBytes ?? 0 });
  antiEntropy.divertedFiles = (deadline) => dht!.maintainDivertedFiles(deadline);
  const cache = dht.cache;
  local.onChange = (guid, newer) => dht!.revoke(guid, newer);
  const handlers = new DhtPeerHandlers(local, antiEntropy, config.maxValueBytes, (guid, newer) => cache.invalidate(guid, newer, endpoint.now()), diversion);
  dht.attach(local, replication, (_from, payload) => handlers.receive(payload));
  return { local, replication, antiEntropy, diversion, dht };
}

export type FilesSettings = Pick<NodeConfig, 'replicas' | 'maxValueBytes' | 'rpcTimeoutMs'> & {
  /** Bytes of fetched chunks kept to serve other downloaders (FILES default unless set). */
  fileCacheBytes?: number;
  /** Chunk hashes a manifest holds itself (tests make it small). */
  hashesPerPage?: number;
};

/** Files beside the DHT on the same overlay: chunks and manifests are DHT objects. */
export function assembleFiles(overlay: Overlay, parts: Pick<DhtParts, 'dht' | 'local'>, config: FilesSettings, log: Logger): Files {
  let files: Files | undefined;
  const endpoint = overlay.register({
    id: FILES_APP,
    deliver: (m) => files!.deliver(m),
    receive: (from, payload) => files!.receive(from, payload),
    update: (node, joined) => files!.update(node, joined),
  });
  files = new Files(endpoint, parts.dht, parts.local, {
    replicas: config.replicas,
    maxValueBytes: config.maxValueBytes,
    rpcTimeoutMs: config.rpcTimeoutMs,
    cacheBytes: config.fileCacheBytes ?? FILES.defaultCacheBytes,
    chunkTimeoutMs: Math.max(FILES.minChunkTimeoutMs, 5 * config.rpcTimeoutMs),
    hashesPerPage: config.hashesPerPage,
  }, log);
  return files;
}

export type ScribeSettings = Pick<NodeConfig, 'scribeMaxChildren' | 'scribeRetain' | 'scribeRefreshMs' | 'rpcTimeoutMs'>;

/** Messaging beside the DHT on the same overlay: the retained window is DHT objects. */
export function assembleScribe(overlay: Overlay, dht: Dht, config: ScribeSettings, log: Logger): Scribe {
  let scribe: Scribe | undefined;
  const endpoint = overlay.register({
    id: SCRIBE_APP,
    forward: (m, next) => scribe!.forward(m, next),
    deliver: (m) => scribe!.deliver(m),
    receive: (from, payload) => scribe!.receive(from, payload),
    update: (node, joined) => scribe!.update(node, joined),
  });
  scribe = new Scribe(endpoint, dht, { maxChildren: config.scribeMaxChildren, retain: config.scribeRetain, refreshMs: config.scribeRefreshMs, rpcTimeoutMs: config.rpcTimeoutMs }, log);
  return scribe;
}

export type ComputeSettings = Pick<NodeConfig, 'replicas' | 'rpcTimeoutMs' | 'maxValueBytes' | 'computeSlots' | 'computeQueue' | 'computeMemoryBytes' | 'computeUnitTimeoutMs'>;

/** Computing beside the DHT and file sharing: modules are DHT objects, inputs chunks or objects. */
export function assembleCompute(overlay: Overlay, parts: Pick<DhtParts, 'dht' | 'local'>, files: Files, config: ComputeSettings, log: Logger): Compute {
  let compute: Compute | undefined;
  const endpoint = overlay.register({
    id: COMPUTE_APP,
    deliver: (m) => compute!.deliver(m),
    receive: (from, payload) => compute!.receive(from, payload),
  });
  compute = new Compute(endpoint, parts.dht, parts.local, files, {
    replicas: config.replicas,
    rpcTimeoutMs: config.rpcTimeoutMs,
    maxModuleBytes: config.maxValueBytes,
    slots: config.computeSlots,
    queue: config.computeQueue,
    memoryBytes: config.computeMemoryBytes,
    unitTimeoutMs: config.computeUnitTimeoutMs,
  }, log);
  return compute;
}

/** ioredis loads only for a node that uses Redis (start-up CPU of memory-store nodes). */
function redisStore(url: string): Store {
  const { RedisStore } = require('./store/redis-store') as typeof import('./store/redis-store');
  return new RedisStore(url);
}

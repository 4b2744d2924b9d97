import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { childrenBy, STORE_BUCKETS } from './buckets';

/** Store operations timed by the instrumented store. */
export const STORE_OPERATIONS = ['get', 'put', 'delete', 'range', 'count', 'leaves', 'tombstones', 'diverted', 'divertedFiles'] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/** What replication and anti-entropy report; the no-op below serves tests and tools. */
export interface StorageEvents {
  /** Anti-entropy (or read repair) wrote `n` objects that were missing or stale here or on a peer. */
  repaired(n?: number): void;
  /** `n` objects were handed off to the nodes that are now responsible for them. */
  handedOff(n?: number): void;
  /** Objects found in the last anti-entropy round missing or older on a replica, or shared with a silent one. */
  setUnderReplicated(n: number): void;
}

export const NO_STORAGE_EVENTS: StorageEvents = {
  repaired: () => undefined,
  handedOff: () => undefined,
  setUnderReplicated: () => undefined,
};

/** Running totals kept by anti-entropy (AntiEntropy.stats), read on every scrape. */
export interface ReplicationStats {
  readonly repaired: number;
  readonly handedOff: number;
  readonly underReplicated: number;
}

/** What the store holds now, read on every scrape. */
export interface StoreContents {
  objects(): number;
  bytes(): number;
  healthy(): boolean;
}

/**
 * pastry_store_objects, pastry_store_bytes, pastry_store_capacity_bytes, pastry_store_utilization, pastry_store_up,
 * pastry_store_operation_duration_seconds{operation,store}, pastry_under_replicated_objects,
 * pastry_antientropy_repairs_total, pastry_handoff_objects_total, pastry_diversion_events_total{event}.
 */
/** Replica diversion's running totals. */
export interface DiversionCounts {
  readonly diverted: number;
  readonly reclaimed: number;
  readonly restored: number;
  readonly dropped: number;
}

/** File diversion's running totals (the DHT's). */
export interface FileDiversionCounts {
  readonly fileDiverted: number;
  readonly filesDropped: number;
}

const DIVERSION_EVENTS = ['diverted', 'reclaimed', 'restored', 'dropped', 'file_diverted', 'file_dropped'] as const;
type DiversionEvent = (typeof DIVERSION_EVENTS)[number];

/** What the route cache reports. */
export interface CacheStats {
  readonly size: number;
  readonly usedBytes: number;
  readonly hits: number;
}

export class StorageMetrics implements StorageEvents {
  private readonly repairs: Counter;
  private readonly handoffs: Counter;
  private readonly underReplicated: Gauge;
  private readonly duration: Histogram<'operation' | 'store'>;
  private contents: StoreContents | undefined;
  private capacity = 0;
  private cache: CacheStats | undefined;
  private cacheHitsSeen = 0;
  private replication: ReplicationStats | undefined;
  private seen = { repaired: 0, handedOff: 0 };
  private diversion: DiversionCounts | undefined;
  private fileDiversion: FileDiversionCounts | undefined;
  private diversionSeen = unseen();

  constructor(registry: Registry) {
    const self = this;
    new Gauge({
      name: 'pastry_store_objects',
      help: 'Live objects (tombstones excluded) in this node\'s store.',
      registers: [registry],
      collect() {
        this.set(self.contents?.objects() ?? 0);
      },
    });
    new Gauge({
      name: 'pastry_store_bytes',
      help: 'Bytes of the values of the live objects in this node\'s store.',
      registers: [registry],
      collect() {
        this.set(self.contents?.bytes() ?? 0);
      },
    });
    new Gauge({
      name: 'pastry_store_capacity_bytes',
      help: 'Value bytes this node stores at most (PASTRY_CAPACITY_BYTES); 0: no limit.',
      registers: [registry],
      collect() {
        this.set(self.capacity);
      },
    });
    new Gauge({
      name: 'pastry_store_utilization',
      help: 'Share of the capacity in use (live value bytes over PASTRY_CAPACITY_BYTES); 0 without a limit.',
      registers: [registry],
      collect() {
        this.set(self.capacity > 0 ? (self.contents?.bytes() ?? 0) / self.capacity : 0);
      },
    });
    new Gauge({
      name: 'pastry_cache_entries',
      help: 'Copies of other nodes\' objects this node caches for reads passing through (PASTRY_CACHE_BYTES bounds them).',
      registers: [registry],
      collect() {
        this.set(self.cache?.size ?? 0);
      },
    });
    new Gauge({
      name: 'pastry_cache_bytes',
      help: 'Value bytes of the cached copies.',
      registers: [registry],
      collect() {
        this.set(self.cache?.usedBytes ?? 0);
      },
    });
    new Counter({
      name: 'pastry_cache_hits_total',
      help: 'Reads this node answered from a cached copy, on the way to the root.',
      registers: [registry],
      collect() {
        const now = self.cache?.hits ?? 0;
        if (now > self.cacheHitsSeen) this.inc(now - self.cacheHitsSeen);
        self.cacheHitsSeen = now;
      },
    }).inc(0);
    new Gauge({
      name: 'pastry_store_up',
      help: '1 while the store (the Redis sidecar, or memory) is reachable.',
      registers: [registry],
      collect() {
        this.set(self.contents?.healthy() === false ? 0 : 1);
      },
    });
    this.duration = new Histogram({
      name: 'pastry_store_operation_duration_seconds',
      help: 'Latency of one store operation, by operation and store kind (memory or redis).',
      labelNames: ['operation', 'store'],
      buckets: STORE_BUCKETS,
      registers: [registry],
    });
    this.underReplicated = new Gauge({
      name: 'pastry_under_replicated_objects',
      help: 'Objects found in the last anti-entropy round missing or older on a replica, or shared with a replica that did not answer.',
      registers: [registry],
      collect() {
        if (self.replication) this.set(Math.max(0, self.replication.underReplicated));
      },
    });
    this.repairs = new Counter({
      name: 'pastry_antientropy_repairs_total',
      help: 'Objects written by anti-entropy or read repair because a replica was missing or stale.',
      registers: [registry],
      collect() {
        self.catchUp('repaired', (n) => this.inc(n));
      },
    });
    this.handoffs = new Counter({
      name: 'pastry_handoff_objects_total',
      help: 'Objects handed off to the nodes now responsible for them (joins and leaves).',
      registers: [registry],
      collect() {
        self.catchUp('handedOff', (n) => this.inc(n));
      },
    });
    const diversionEvents = new Counter({
      name: 'pastry_diversion_events_total',
      help: 'Diversion by this node. Replica diversion: copies placed on a neighbour for want of room (diverted), taken back (reclaimed), found again on another replica after the holder lost them (restored), pointers dropped with no copy left anywhere (dropped). File diversion: puts this node, as root, stored under a salted GUID (file_diverted), diverted files this node, as their root, removed because no redirect names them any more (file_dropped).',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        for (const event of DIVERSION_EVENTS) {
          const now = self.diversionCount(event);
          if (now > self.diversionSeen[event]) this.labels({ event }).inc(now - self.diversionSeen[event]);
          self.diversionSeen[event] = Math.max(self.diversionSeen[event], now);
        }
      },
    });
    for (const event of DIVERSION_EVENTS) diversionEvents.labels({ event }).inc(0);
    this.underReplicated.set(0);
    this.repairs.inc(0);
    this.handoffs.inc(0);
  }

  watchCache(cache: CacheStats): void {
    this.cache = cache;
    this.cacheHitsSeen = 0;
  }

  watchCapacity(bytes: number): void {
    this.capacity = bytes;
  }

  watchDiversion(counts: DiversionCounts | undefined, files?: FileDiversionCounts): void {
    this.diversion = counts;
    this.fileDiversion = files;
    this.diversionSeen = unseen();
  }

  private diversionCount(event: DiversionEvent): number {
    if (event === 'file_diverted') return this.fileDiversion?.fileDiverted ?? 0;
    if (event === 'file_dropped') return this.fileDiversion?.filesDropped ?? 0;
    return this.diversion?.[event] ?? 0;
  }

  /** Reads objects and bytes from here on every scrape; zeroes the latency series of this store kind. */
  watch(kind: string, contents: StoreContents): void {
    this.contents = contents;
    for (const operation of STORE_OPERATIONS) this.duration.zero({ operation, store: kind });
  }

  /**
   * Reads repairs, handoffs and under-replicated objects from anti-entropy's running totals
   * on every scrape. Use either this or the repaired/handedOff/setUnderReplicated calls.
   */
  watchReplication(stats: ReplicationStats): void {
    this.replication = stats;
    this.seen = { repaired: 0, handedOff: 0 };
  }

  private catchUp(key: 'repaired' | 'handedOff', inc: (n: number) => void): void {
    const now = this.replication?.[key] ?? 0;
    if (now > this.seen[key]) inc(now - this.seen[key]);
    this.seen[key] = Math.max(this.seen[key], now);
  }

  private readonly durationOf = childrenBy((key: string) => {
    const [operation, store] = key.split('\0') as [StoreOperation, string];
    return this.duration.labels({ operation, store });
  });

  observe(operation: StoreOperation, store: string, seconds: number): void {
    this.durationOf(`${operation}\0${store}`).observe(seconds);
  }

  repaired(n = 1): void {
    if (n > 0) this.repairs.inc(n);
  }

  handedOff(n = 1): void {
    if (n > 0) this.handoffs.inc(n);
  }

  setUnderReplicated(n: number): void {
    this.underReplicated.set(Math.max(0, n));
  }
}

function unseen(): Record<DiversionEvent, number> {
  return { diverted: 0, reclaimed: 0, restored: 0, dropped: 0, file_diverted: 0, file_dropped: 0 };
}

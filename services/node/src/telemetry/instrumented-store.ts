import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import type { Id } from '../core/id';
import type { RangeOptions, Store, StoredObject } from '../store/store';
import type { StorageMetrics, StoreContents, StoreOperation } from './storage-metrics';
import { withChildSpan } from './tracing';

const FIRST_ID = '0'.repeat(32);
const LAST_ID = 'f'.repeat(32);
/** Objects read per page while counting what a persistent store already holds at start. */
const SCAN_PAGE = 1000;

/**
 * A Store decorator: times every operation (pastry_store_operation_duration_seconds), makes
 * a child span of the active span (a pastry.route.hop at the root, a replication RPC), and
 * keeps count of live objects and their bytes for pastry_store_objects / pastry_store_bytes.
 * The sizes are tracked per GUID (about 100 bytes per object). What a persistent store holds
 * already is counted in the background with metadata-only range reads, when it starts and
 * whenever it comes back after being unreachable (a restarted sidecar); start never waits
 * for it and never fails because of it.
 */
export class InstrumentedStore implements Store, StoreContents {
  private sizes = new Map<Id, number>();
  private liveBytes = 0;
  private wasHealthy = false;
  /** Writes seen while a scan runs, replayed onto its result. */
  private duringScan: [Id, number | undefined][] | undefined;

  constructor(
    readonly inner: Store,
    private readonly metrics: StorageMetrics,
    /** The node's tracer for the child spans; the global one when not given. */
    private readonly tracer?: Tracer,
  ) {
    metrics.watch(inner.kind, this);
  }

  get kind(): string {
    return this.inner.kind;
  }

  async start(): Promise<void> {
    await this.inner.start();
    this.healthy();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  /** A store that comes back (a restarted sidecar) may hold other objects: count again. */
  healthy(): boolean {
    const healthy = this.inner.healthy();
    if (healthy && !this.wasHealthy && !this.duringScan) void this.scan();
    this.wasHealthy = healthy;
    return healthy;
  }

  get(guid: Id): Promise<StoredObject | undefined> {
    return this.timed('get', () => this.inner.get(guid));
  }

  async put(object: StoredObject): Promise<void> {
    await this.timed('put', () => this.inner.put(object));
    this.track(object.guid, object.tombstone ? undefined : object.size);
  }

  async delete(guid: Id): Promise<boolean> {
    const deleted = await this.timed('delete', () => this.inner.delete(guid));
    this.track(guid, undefined);
    return deleted;
  }

  range(from: Id, to: Id, limit: number, options?: RangeOptions): Promise<StoredObject[]> {
    return this.timed('range', () => this.inner.range(from, to, limit, options));
  }

  count(): Promise<number> {
    return this.timed('count', () => this.inner.count());
  }

  objects(): number {
    return this.sizes.size;
  }

  bytes(): number {
    return this.liveBytes;
  }

  /** Resolves once a scan that is running has finished (tests, tools). */
  async settled(): Promise<void> {
    while (this.duringScan) await new Promise((r) => setTimeout(r, 10));
  }

  private track(guid: Id, size: number | undefined): void {
    this.duringScan?.push([guid, size]);
    this.apply(this.sizes, guid, size);
  }

  private apply(sizes: Map<Id, number>, guid: Id, size: number | undefined): void {
    if (sizes === this.sizes) this.liveBytes -= sizes.get(guid) ?? 0;
    if (size === undefined) {
      sizes.delete(guid);
    } else {
      sizes.set(guid, size);
      if (sizes === this.sizes) this.liveBytes += size;
    }
  }

  /** Counts what the store holds already; writes meanwhile are replayed onto the result. */
  private async scan(): Promise<void> {
    this.duringScan = [];
    const scanned = new Map<Id, number>();
    try {
      let from = FIRST_ID;
      for (;;) {
        const page = await this.inner.range(from, LAST_ID, SCAN_PAGE, { values: false });
        for (const o of page) if (!o.tombstone) scanned.set(o.guid, o.size);
        const last = page[page.length - 1]?.guid;
        if (page.length < SCAN_PAGE || last === undefined || last === LAST_ID) break;
        from = (BigInt('0x' + last) + 1n).toString(16).padStart(32, '0');
      }
      for (const [guid, size] of this.duringScan) this.apply(scanned, guid, size);
      this.sizes = scanned;
      this.liveBytes = [...scanned.values()].reduce((a, b) => a + b, 0);
    } catch {
      // Unreachable again: the next recovery scans again.
      this.wasHealthy = false;
    } finally {
      this.duringScan = undefined;
    }
  }

  private async timed<T>(operation: StoreOperation, fn: () => Promise<T>): Promise<T> {
    return withChildSpan(`pastry.store.${operation}`, { 'pastry.store.kind': this.inner.kind }, this.tracer, async () => {
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        this.metrics.observe(operation, this.inner.kind, (performance.now() - t0) / 1000);
      }
    });
  }
}

import { performance } from 'node:perf_hooks';
import type { Tracer } from '@opentelemetry/api';
import type { Id } from '../core/id';
import type { RangeOptions, Store, StoredObject, StoreUsage } from '../store/store';
import type { LeafDigest } from '../store/tree';
import type { StorageMetrics, StoreContents, StoreOperation } from './storage-metrics';
import { withChildSpan } from './tracing';

/**
 * A Store decorator: times every operation (pastry_store_operation_duration_seconds), makes
 * a child span of the active span (a pastry.route.hop at the root, a replication RPC), and
 * reports the live objects and bytes for pastry_store_objects / pastry_store_bytes from the
 * store's own usage counters: nothing here keeps a structure per object. While the store has
 * never been reachable it reports nothing (0): what it holds is not known yet.
 */
export class InstrumentedStore implements Store, StoreContents {
  private everHealthy = false;

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

  healthy(): boolean {
    const healthy = this.inner.healthy();
    if (healthy) this.everHealthy = true;
    return healthy;
  }

  get(guid: Id): Promise<StoredObject | undefined> {
    return this.timed('get', () => this.inner.get(guid));
  }

  put(object: StoredObject): Promise<void> {
    return this.timed('put', () => this.inner.put(object));
  }

  delete(guid: Id): Promise<boolean> {
    return this.timed('delete', () => this.inner.delete(guid));
  }

  range(from: Id, to: Id, limit: number, options?: RangeOptions): Promise<StoredObject[]> {
    return this.timed('range', () => this.inner.range(from, to, limit, options));
  }

  leaves(): Promise<Map<number, LeafDigest>> {
    return this.timed('leaves', () => this.inner.leaves());
  }

  tombstones(before: number, limit: number): Promise<StoredObject[]> {
    return this.timed('tombstones', () => this.inner.tombstones(before, limit));
  }

  diverted(after: string | undefined, limit: number): Promise<StoredObject[]> {
    return this.timed('diverted', () => this.inner.diverted(after, limit));
  }

  divertedFiles(after: string | undefined, limit: number): Promise<StoredObject[]> {
    return this.timed('divertedFiles', () => this.inner.divertedFiles(after, limit));
  }

  count(): Promise<number> {
    return this.timed('count', () => this.inner.count());
  }

  usage(): StoreUsage {
    return this.healthy() || this.everHealthy ? this.inner.usage() : { objects: 0, bytes: 0 };
  }

  objects(): number {
    return this.usage().objects;
  }

  bytes(): number {
    return this.usage().bytes;
  }

  /** Resolves once the store's own usage read, if one is running, has finished (tests, tools). */
  async settled(): Promise<void> {
    await (this.inner as Partial<{ settled(): Promise<void> }>).settled?.();
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

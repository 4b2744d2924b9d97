import { Counter, Gauge, type Registry } from 'prom-client';
import type { Files } from '../files/files';

/** A counter that follows a running total read on every scrape. */
export function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  }).inc(0);
}

/** As totalCounter, for running totals kept by one label's values (every value exported from the start). */
export function labelledTotalCounter<K extends string>(registry: Registry, name: string, help: string, label: string, read: () => Record<K, number>): void {
  const seen = new Map<string, number>();
  const counter = new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, now] of Object.entries(read()) as [string, number][]) {
        const before = seen.get(value) ?? 0;
        if (now > before) this.inc({ [label]: value }, now - before);
        seen.set(value, Math.max(before, now));
      }
    },
  });
  for (const value of Object.keys(read())) counter.inc({ [label]: value }, 0);
}

/** File sharing's counters, read from the application's running totals on every scrape. */
export function watchFiles(registry: Registry, files: Files): void {
  const stats = files.fetcher.stats;
  labelledTotalCounter(
    registry,
    'pastry_file_fetched_bytes_total',
    'Chunk bytes this node fetched for downloads, by where they came from: cache, local (its own replica), provider (a node that fetched them first), replica, routed (a DHT read).',
    'source',
    () => stats.bytes,
  );
  totalCounter(registry, 'pastry_file_served_bytes_total', 'Chunk bytes this node sent to other nodes\' downloads (from its cache or its replicas).', () => files.served.bytes);
  totalCounter(registry, 'pastry_file_corrupt_copies_total', 'Chunk copies that failed their hash and were not used.', () => stats.corrupt);
  totalCounter(registry, 'pastry_file_chunk_repairs_total', 'Chunks rewritten on their replicas after a corrupt or missing copy was found.', () => stats.repaired);
  totalCounter(registry, 'pastry_file_chunk_failures_total', 'Chunks no source could deliver.', () => stats.failed);
  new Gauge({
    name: 'pastry_file_cache_bytes',
    help: 'Bytes of fetched chunks this node keeps to serve other downloaders (PASTRY_FILE_CACHE_BYTES bounds them).',
    registers: [registry],
    collect() {
      this.set(files.cache.bytes);
    },
  });
  new Gauge({
    name: 'pastry_file_provider_chunks',
    help: 'Chunks this node, as their root, keeps provider records for.',
    registers: [registry],
    collect() {
      this.set(files.providers.chunks);
    },
  });
}

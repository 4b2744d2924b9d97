import { Registry } from 'prom-client';
import type { StoredObject } from '../../../services/node/src/store/store';
import { MemoryStore } from '../../../services/node/src/store/memory-store';
import { InstrumentedStore } from '../../../services/node/src/telemetry/instrumented-store';
import { StorageMetrics } from '../../../services/node/src/telemetry/storage-metrics';

function object(n: number, size: number, tombstone = false): StoredObject {
  const value = Buffer.alloc(tombstone ? 0 : size, 1);
  return { guid: n.toString(16).padStart(32, '0'), value, version: 1, writer: 'f'.repeat(32), hash: '', size: value.length, createdAt: 0, tombstone, contentAddressed: false };
}

/** One sample from the registry's text output, e.g. 'pastry_store_bytes' or 'x_count{operation="get"}'. */
async function sample(registry: Registry, series: string): Promise<number> {
  for (const line of (await registry.metrics()).split('\n')) {
    const i = line.lastIndexOf(' ');
    if (!line.startsWith('#') && line.slice(0, i) === series) return Number(line.slice(i + 1));
  }
  throw new Error(`no sample ${series}`);
}

describe('InstrumentedStore', () => {
  it('counts live objects and their bytes through puts, overwrites, tombstones and deletes', async () => {
    const registry = new Registry();
    const store = new InstrumentedStore(new MemoryStore(), new StorageMetrics(registry));
    await store.start();
    expect([store.objects(), store.bytes()]).toEqual([0, 0]);
    await store.put(object(1, 100));
    await store.put(object(2, 50));
    expect([store.objects(), store.bytes()]).toEqual([2, 150]);
    await store.put(object(1, 10));
    expect([store.objects(), store.bytes()]).toEqual([2, 60]);
    await store.put(object(2, 0, true));
    expect([store.objects(), store.bytes()]).toEqual([1, 10]);
    await store.delete(object(1, 0).guid);
    await store.delete(object(7, 0).guid);
    expect([store.objects(), store.bytes()]).toEqual([0, 0]);
    expect(await sample(registry, 'pastry_store_objects')).toBe(0);
  });

  it('counts what a store already holds when it starts, over several pages', async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 2500; i++) await inner.put(object(i * 7919, 3, i % 100 === 0));
    const registry = new Registry();
    const store = new InstrumentedStore(inner, new StorageMetrics(registry));
    await store.start();
    await store.settled();
    expect(store.objects()).toBe(2475);
    expect(store.bytes()).toBe(2475 * 3);
    expect(await sample(registry, 'pastry_store_bytes')).toBe(2475 * 3);
  });

  it('starts while the store is unreachable and counts its contents once it is back', async () => {
    class Flaky extends MemoryStore {
      up = false;
      override healthy(): boolean {
        return this.up;
      }
      override async range(...args: Parameters<MemoryStore['range']>): ReturnType<MemoryStore['range']> {
        if (!this.up) throw new Error('unreachable');
        return super.range(...args);
      }
    }
    const inner = new Flaky();
    await inner.put(object(1, 40));
    await inner.put(object(2, 2));
    const store = new InstrumentedStore(inner, new StorageMetrics(new Registry()));
    await store.start();
    await store.settled();
    expect([store.objects(), store.bytes()]).toEqual([0, 0]);
    inner.up = true;
    expect(store.healthy()).toBe(true);
    await store.put(object(3, 5));
    await store.settled();
    expect([store.objects(), store.bytes()]).toEqual([3, 47]);
  });

  it('times every operation by operation and store kind, each series there from the start', async () => {
    const registry = new Registry();
    const store = new InstrumentedStore(new MemoryStore(), new StorageMetrics(registry));
    const count = (operation: string): Promise<number> => sample(registry, `pastry_store_operation_duration_seconds_count{operation="${operation}",store="memory"}`);
    for (const op of ['get', 'put', 'delete', 'range', 'count']) expect(await count(op)).toBe(0);
    await store.put(object(1, 1));
    await store.get(object(1, 1).guid);
    await store.get(object(2, 1).guid);
    await store.count();
    expect(await count('put')).toBe(1);
    expect(await count('get')).toBe(2);
    expect(await count('count')).toBe(1);
  });
});

import { createHash } from 'node:crypto';
import { MemoryStore } from '../../services/node/src/store/memory-store';
import type { StoredObject } from '../../services/node/src/store/store';
import { object, storeCompliance } from './store-compliance';

storeCompliance('memory', async () => new MemoryStore());

describe('MemoryStore slabs', () => {
  it('keeps every object exact through heavy churn, compacting slabs so their room stays within twice the live bytes', async () => {
    const store = new MemoryStore();
    const model = new Map<string, StoredObject>();
    // mulberry32: seeded, and its low bits are as random as its high ones.
    let seed = 11;
    const next = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
    };
    const guids = Array.from({ length: 6000 }, (_, i) => createHash('sha256').update(`churn-${i}`).digest('hex').slice(0, 32));
    let peakRatio = 0;
    for (let step = 0; step < 60_000; step++) {
      const guid = guids[next(guids.length)]!;
      if (next(4) === 0) {
        expect(await store.delete(guid)).toBe(model.delete(guid));
      } else {
        // Mostly small values, now and then one large enough for a buffer of its own.
        const size = next(50) === 0 ? 70_000 + next(10_000) : next(2_000);
        const value = Buffer.alloc(size, step % 251);
        const o = object(guid, '', { value, size, version: step + 1, tombstone: size === 0 && next(2) === 0 });
        await store.put(o);
        model.set(guid, o);
      }
      if (step % 1000 === 999) {
        const f = store.footprint();
        if (f.liveBytes > 4 << 20) peakRatio = Math.max(peakRatio, f.slabBytes / f.liveBytes);
      }
    }
    expect(peakRatio).toBeGreaterThan(0);
    // Half-live slabs are compacted, the slab being filled and an emptied one aside.
    expect(peakRatio).toBeLessThan(2.5);
    expect(await store.count()).toBe(model.size);
    for (const [guid, o] of model) {
      const got = (await store.get(guid))!;
      // Buffers compared apart: toEqual walks them byte by byte.
      expect(got.value.equals(o.value)).toBe(true);
      expect({ ...got, value: undefined }).toEqual({ ...o, value: undefined });
    }
    const all = await store.range('0'.repeat(32), 'f'.repeat(32), 1e9, { values: false });
    expect(all.map((o) => o.guid)).toEqual([...model.keys()].sort());
    const live = [...model.values()].filter((o) => !o.tombstone);
    expect(store.usage()).toEqual({ objects: live.length, bytes: live.reduce((n, o) => n + o.size, 0) });
    for (const guid of [...model.keys()]) await store.delete(guid);
    expect(store.footprint().liveBytes).toBe(0);
    expect(store.footprint().slabs).toBeLessThanOrEqual(1);
  });
});

describe('MemoryStore large values', () => {
  it('keeps a large value as it came, copies one that shares much larger memory, and reads back metadata exact', async () => {
    const store = new MemoryStore();
    const guids = ['1'.repeat(32), '2'.repeat(32), '3'.repeat(32)];
    // A chunk in memory of its own (a file upload's) or nearly so (a view of the message it came in).
    const alone = Buffer.alloc(256 * 1024, 7);
    const message = Buffer.alloc(256 * 1024 + 200, 8);
    const inMessage = message.subarray(150, 150 + 256 * 1024);
    // A 20 KiB value inside a 1 MiB read buffer: kept by reference, it would pin all of it.
    const readBuffer = Buffer.alloc(1 << 20, 9);
    const small = readBuffer.subarray(4096, 4096 + 20 * 1024);
    const smallAsSent = Buffer.from(small);
    const objects = [
      object(guids[0]!, '', { value: alone, size: alone.length, version: 5 }),
      object(guids[1]!, '', { value: inMessage, size: inMessage.length, version: 6 }),
      object(guids[2]!, '', { value: small, size: small.length, version: 7 }),
    ];
    for (const o of objects) await store.put(o);
    const [a, b, c] = await Promise.all(guids.map(async (g) => (await store.get(g))!));
    expect(a!.value.buffer === alone.buffer).toBe(true);
    expect(b!.value.buffer === message.buffer).toBe(true);
    expect(c!.value.buffer === readBuffer.buffer).toBe(false);
    readBuffer.fill(0);
    expect(c!.value.equals(smallAsSent)).toBe(true);
    for (const [i, got] of [a!, b!, c!].entries()) {
      expect(got.value.equals(i === 2 ? smallAsSent : objects[i]!.value)).toBe(true);
      expect({ ...got, value: undefined }).toEqual({ ...objects[i]!, value: undefined });
    }
    // Ranges without values, a replacement, a delete.
    expect((await store.range('0'.repeat(32), 'f'.repeat(32), 10, { values: false })).map((o) => [o.guid, o.value.length, o.version])).toEqual([
      [guids[0], 0, 5],
      [guids[1], 0, 6],
      [guids[2], 0, 7],
    ]);
    const replaced = object(guids[0]!, '', { value: Buffer.alloc(10_000, 1), size: 10_000, version: 9 });
    await store.put(replaced);
    expect((await store.get(guids[0]!))!.value.equals(replaced.value)).toBe(true);
    expect(await store.delete(guids[1]!)).toBe(true);
    expect(store.usage()).toEqual({ objects: 2, bytes: 10_000 + 20 * 1024 });
  });
});

import { createHash } from 'node:crypto';
import { bucketOf } from '../../../services/node/src/dht/anti-entropy';
import { ReplicaStore, isIntact } from '../../../services/node/src/dht/replica-store';
import { ResourceExhaustedError } from '../../../services/node/src/errors';
import { batches } from '../../../services/node/src/dht/replication';
import { MemoryStore } from '../../../services/node/src/store/memory-store';
import { object } from '../../compliance/store-compliance';

const hash = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('ReplicaStore', () => {
  const guid = 'a'.repeat(32);

  it('refuses a write that would grow its live bytes past the capacity, never a tombstone or a shrinking write', async () => {
    const r = new ReplicaStore(new MemoryStore(), 100);
    await r.apply(object('1'.repeat(32), 'x'.repeat(60)));
    await expect(r.apply(object('2'.repeat(32), 'y'.repeat(41)))).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect((await r.read('2'.repeat(32))).object).toBeUndefined();
    expect((await r.apply(object('2'.repeat(32), 'y'.repeat(40)))).result).toBe('applied');
    expect(r.store.usage().bytes).toBe(100);
    // Full: an overwrite no larger, and a remove, still go through.
    expect((await r.apply(object('1'.repeat(32), 'z'.repeat(60), { version: 2 }))).result).toBe('applied');
    expect((await r.apply(object('2'.repeat(32), '', { version: 2, tombstone: true }))).result).toBe('applied');
    expect(r.store.usage().bytes).toBe(60);
    expect((await r.apply(object('3'.repeat(32), 'w'.repeat(40)))).result).toBe('applied');
  });

  it('applies a newer version and ignores an older or equal one, saying which (last writer wins)', async () => {
    const r = new ReplicaStore(new MemoryStore());
    expect((await r.apply(object(guid, 'v2', { version: 2 }))).result).toBe('applied');
    expect((await r.apply(object(guid, 'v1', { version: 1 }))).result).toBe('newer');
    expect((await r.apply(object(guid, 'v2', { version: 2 }))).result).toBe('same');
    expect((await r.apply(object(guid, 'v2b', { version: 2, writer: 'b'.repeat(32) }))).result).toBe('applied');
    expect((await r.read(guid)).object!.value.toString()).toBe('v2b');
  });

  it('a tombstone of the same version beats the live copy, and a newer write beats the tombstone', async () => {
    const r = new ReplicaStore(new MemoryStore());
    await r.apply(object(guid, 'live', { version: 5 }));
    expect((await r.apply(object(guid, '', { version: 5, tombstone: true }))).result).toBe('applied');
    expect((await r.read(guid)).object!.tombstone).toBe(true);
    expect((await r.apply(object(guid, 'again', { version: 6 }))).result).toBe('applied');
    expect((await r.read(guid)).object!.tombstone).toBe(false);
  });

  it('a corrupt copy reads as absent and is replaced even by the same version', async () => {
    const store = new MemoryStore();
    const r = new ReplicaStore(store);
    const good = object(guid, 'bytes', { version: 3 });
    await store.put({ ...good, value: Buffer.from('BYTES') });
    expect(await r.read(guid)).toEqual({ object: undefined, corrupt: true });
    expect((await r.apply(good)).result).toBe('applied');
    expect((await r.read(guid)).object!.value.toString()).toBe('bytes');
  });

  it('checks a content address against the bytes', () => {
    const value = Buffer.from('content');
    const h = hash(value);
    expect(isIntact(object(h.slice(0, 32), 'content', { contentAddressed: true }))).toBe(true);
    expect(isIntact(object('0'.repeat(32), 'content', { contentAddressed: true }))).toBe(false);
  });

  it('serialises concurrent writes of one GUID', async () => {
    const r = new ReplicaStore(new MemoryStore());
    await Promise.all(Array.from({ length: 50 }, (_, i) => r.apply(object(guid, `v${i}`, { version: i }))));
    expect((await r.read(guid)).object!.version).toBe(49);
  });

  it('drops a copy only if it did not change since it was read', async () => {
    const r = new ReplicaStore(new MemoryStore());
    const v1 = object(guid, 'v1', { version: 1 });
    await r.apply(v1);
    await r.apply(object(guid, 'v2', { version: 2 }));
    expect(await r.dropIfUnchanged(v1)).toBe(false);
    expect(await r.dropIfUnchanged(object(guid, 'v2', { version: 2 }))).toBe(true);
    expect((await r.read(guid)).object).toBeUndefined();
  });
});

describe('replication limits', () => {
  it('splits pushes under the count and byte limits, keeping order', () => {
    const objs = Array.from({ length: 10 }, (_, i) => object(i.toString(16).padStart(32, '0'), 'x'.repeat(100)));
    const parts = batches(objs, 4, 250);
    expect(parts.map((b) => b.length)).toEqual([2, 2, 2, 2, 2]);
    expect(parts.flat()).toEqual(objs);
    expect(batches(objs, 3, 1e9).map((b) => b.length)).toEqual([3, 3, 3, 1]);
    // An object larger than the byte limit still travels, alone.
    expect(batches([object('f'.repeat(32), 'y'.repeat(500))], 4, 100)).toHaveLength(1);
  });

  it('spreads even a narrow GUID range over the digest buckets', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(bucketOf('abcdef01' + hash(`key-${i}`).slice(0, 24)));
    expect(seen.size).toBe(64);
  });
});

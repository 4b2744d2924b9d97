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

  it('keeps a diversion pointer in place of a copy: no bytes counted, followed on read, replaced by the copy once there is room', async () => {
    const r = new ReplicaStore(new MemoryStore(), 100);
    const holder = 'b'.repeat(32);
    const copy = object(guid, 'x'.repeat(80), { version: 3 });
    await r.apply(object('1'.repeat(32), 'y'.repeat(60)));
    await expect(r.apply(copy)).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(await r.applyPointer(copy, holder)).toBe(true);
    expect(r.store.usage().bytes).toBe(60);
    // Read as it is, the pointer has the copy's version and no bytes; followed, it is the copy.
    const pointer = (await r.read(guid, true)).object!;
    expect(pointer).toMatchObject({ version: 3, divertedTo: holder, size: 80, hash: copy.hash });
    expect(pointer.value.length).toBe(0);
    const followed: string[] = [];
    r.resolver = async (p) => {
      followed.push(p.divertedTo!);
      return copy;
    };
    expect((await r.read(guid)).object!.value.toString()).toBe('x'.repeat(80));
    expect(followed).toEqual([holder]);
    // An older copy never replaces the pointer; an older pointer never replaces a copy.
    expect((await r.apply(object(guid, 'o', { version: 2 }))).result).toBe('newer');
    expect(await r.applyPointer(object(guid, 'o', { version: 2 }), holder)).toBe(false);
    // The same version under a diversion limit that it would pass is refused; with room it replaces the pointer.
    await expect(r.apply(copy, 0.5)).rejects.toBeInstanceOf(ResourceExhaustedError);
    await r.apply(object('1'.repeat(32), '', { version: 2, tombstone: true }));
    expect((await r.apply(copy)).result).toBe('applied');
    expect((await r.read(guid, true)).object!.divertedTo).toBeUndefined();
    expect(r.store.usage().bytes).toBe(80);
    // A copy is never replaced by a pointer to the same version.
    expect(await r.applyPointer(copy, holder)).toBe(false);
    expect(r.hasRoom(20)).toBe(true);
    expect(r.hasRoom(21)).toBe(false);
    expect(r.hasRoom(0, 0.8)).toBe(true);
    expect(r.hasRoom(1, 0.8)).toBe(false);
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

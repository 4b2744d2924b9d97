import Redis from 'ioredis';
import { RedisStore, redisLocation } from '../../services/node/src/store/redis-store';
import { UnavailableError } from '../../services/node/src/errors';
import { startRedis, type RedisServer } from '../helpers/redis';
import { MemoryStore } from '../../services/node/src/store/memory-store';
import { LeafTable } from '../../services/node/src/store/tree';
import { hexLeaves, object, storeCompliance } from './store-compliance';

jest.setTimeout(30_000);

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis('127.0.17.1', 6390);
});

afterAll(async () => {
  await server?.stop();
});

async function flush(): Promise<void> {
  const admin = new Redis(server.url);
  await admin.flushall();
  admin.disconnect();
}

async function connected(): Promise<RedisStore> {
  await flush();
  const store = new RedisStore(server.url);
  await store.start();
  for (let i = 0; i < 100 && !store.healthy(); i++) await new Promise((r) => setTimeout(r, 20));
  return store;
}

storeCompliance('redis', connected);

describe('RedisStore when Redis goes away', () => {
  it('reports unhealthy, fails with UNAVAILABLE, and recovers by itself', async () => {
    const own = await startRedis('127.0.17.2', 6391);
    const store = new RedisStore(own.url);
    await store.start();
    for (let i = 0; i < 100 && !store.healthy(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(store.healthy()).toBe(true);
    await store.put(object('5'.repeat(32), 'kept'));
    await own.stop();
    for (let i = 0; i < 100 && store.healthy(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(store.healthy()).toBe(false);
    await expect(store.get('5'.repeat(32))).rejects.toBeInstanceOf(UnavailableError);
    const again = await startRedis('127.0.17.2', 6391);
    try {
      for (let i = 0; i < 200 && !store.healthy(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(store.healthy()).toBe(true);
      await store.put(object('6'.repeat(32), 'after'));
      expect((await store.get('6'.repeat(32)))!.value.toString()).toBe('after');
    } finally {
      await store.stop();
      await again.stop();
    }
  });
});

describe('RedisStore usage', () => {
  it('counts, once at start, a Redis written before the usage hash existed', async () => {
    await flush();
    const admin = new Redis(server.url);
    try {
      // Objects as an older version wrote them: the hash and the index, no usage counters.
      for (let i = 0; i < 2500; i++) {
        const guid = (i * 7919).toString(16).padStart(32, '0');
        const tombstone = i % 100 === 0;
        await admin.hset(`pastry:o:${guid}`, { value: tombstone ? '' : 'xyz', version: '1', writer: 'a'.repeat(32), hash: '', size: tombstone ? '0' : '3', createdAt: '0', tombstone: tombstone ? '1' : '0', contentAddressed: '0' });
        await admin.zadd('pastry:index', 0, guid);
      }
      const store = new RedisStore(server.url);
      await store.start();
      await store.settled();
      expect(store.usage()).toEqual({ objects: 2475, bytes: 2475 * 3 });
      await store.put(object('f'.repeat(32), 'abcd'));
      expect(store.usage()).toEqual({ objects: 2476, bytes: 2475 * 3 + 4 });
      // Written back: the next start reads it instead of counting again.
      expect(await admin.hmget('pastry:usage', 'objects', 'bytes')).toEqual(['2476', String(2475 * 3 + 4)]);
      await store.stop();
    } finally {
      admin.disconnect();
    }
  });
});

describe('RedisStore hash tree', () => {
  it('agrees with the memory store leaf for leaf: peers on either store compare equal', async () => {
    const store = await connected();
    const memory = new MemoryStore();
    try {
      for (let i = 0; i < 500; i++) {
        const o = object((i * 104729).toString(16).padStart(32, '0'), `v${i}`, { version: 1 + (i % 7), tombstone: i % 9 === 0, writer: (i % 3).toString().repeat(32) });
        await store.put(o);
        await memory.put(o);
      }
      expect(hexLeaves(await store.leaves())).toEqual(hexLeaves(await memory.leaves()));
    } finally {
      await store.stop();
    }
  });

  it('builds the tree of a store written without one, while writes go on', async () => {
    await flush();
    const admin = new Redis(server.url);
    try {
      const objects = new Map<string, ReturnType<typeof object>>();
      for (let i = 0; i < 3000; i++) {
        const o = object((i * 7919 + 1).toString(16).padStart(32, '0'), 'xyz', { tombstone: i % 50 === 0, createdAt: i });
        objects.set(o.guid, o);
        await admin.hset(`pastry:o:${o.guid}`, { value: o.value, version: String(o.version), writer: o.writer, hash: o.hash, size: String(o.size), createdAt: String(o.createdAt), tombstone: o.tombstone ? '1' : '0', contentAddressed: '0' });
        await admin.zadd('pastry:index', 0, o.guid);
      }
      const store = new RedisStore(server.url);
      const starting = store.start();
      for (let i = 0; i < 200 && !store.healthy(); i++) await new Promise((r) => setTimeout(r, 5));
      // Writes at both ends of the GUID order while the pages are being built.
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        const low = object((i * 31).toString(16).padStart(32, '0'), 'new', { version: 2 });
        const high = object('f' + i.toString(16).padStart(31, '0'), 'new');
        objects.set(low.guid, low);
        objects.set(high.guid, high);
        writes.push(store.put(low), store.put(high));
        const gone = (i * 7919 * 3 + 1).toString(16).padStart(32, '0');
        if (objects.delete(gone)) writes.push(store.delete(gone));
      }
      await Promise.all(writes);
      await starting;
      await store.settled();
      const expected = new LeafTable();
      for (const o of objects.values()) expected.apply(o, 1);
      expect(hexLeaves(await store.leaves())).toEqual(hexLeaves(expected.snapshot()));
      expect((await store.tombstones(Number.MAX_SAFE_INTEGER, 10_000)).length).toBe([...objects.values()].filter((o) => o.tombstone).length);
      await store.stop();
    } finally {
      admin.disconnect();
    }
  });
});

describe('RedisStore layout', () => {
  it('converts a store in the layout of one hash per object: every object, index and count kept, nothing of the old layout left', async () => {
    await flush();
    const admin = new Redis(server.url);
    const written = new RedisStore(server.url, 'written:');
    try {
      await written.start();
      for (let i = 0; i < 100 && !written.healthy(); i++) await new Promise((r) => setTimeout(r, 20));
      const objects = new Map<string, ReturnType<typeof object>>();
      for (let i = 0; i < 1200; i++) {
        const guid = (i * 104729 + 3).toString(16).padStart(32, '0');
        const value = i % 50 === 0 ? Buffer.alloc(3000, i % 256) : Buffer.from(`value ${i}`);
        const o = {
          ...object(guid, '', { value, size: value.length, version: 1 + (i % 5), tombstone: i % 17 === 0, createdAt: 1_700_000_000_000 + i, contentAddressed: i % 3 === 0, writer: (i % 4).toString().repeat(32) }),
          ...(i % 41 === 0 ? { divertedTo: 'd'.repeat(32), value: Buffer.alloc(0) } : {}),
          ...(i % 43 === 0 ? { redirect: 'e'.repeat(32) } : {}),
        };
        objects.set(guid, o);
        // As the older version wrote it, with its usage, tree and indexes (the same by GUID in both layouts).
        const fields: Record<string, string | Buffer> = {
          value: o.value,
          version: String(o.version),
          writer: o.writer,
          hash: o.hash,
          size: String(o.size),
          createdAt: String(o.createdAt),
          tombstone: o.tombstone ? '1' : '0',
          contentAddressed: o.contentAddressed ? '1' : '0',
        };
        if (o.divertedTo) fields.divertedTo = o.divertedTo;
        if (o.redirect) fields.redirect = o.redirect;
        await admin.hset(`pastry:o:${guid}`, fields);
        await admin.zadd('pastry:index', 0, guid);
        await written.put(o);
      }
      for (const key of ['usage', 'tree', 'tombstones', 'tree-state', 'diverted']) await admin.copy(`written:${key}`, `pastry:${key}`);
      const store = new RedisStore(server.url);
      await store.start();
      // Started, so the node can answer its probes, but not healthy (not ready) until converted.
      expect(store.healthy()).toBe(false);
      const early = store.get([...objects.keys()][7]!);
      await store.settled();
      expect(store.healthy()).toBe(true);
      try {
        // An operation made during the conversion waited for it.
        expect(await early).toEqual(objects.get([...objects.keys()][7]!));
        expect(await admin.exists('pastry:index')).toBe(0);
        expect(await admin.keys('pastry:o:*')).toEqual([]);
        expect(await store.count()).toBe(objects.size);
        expect(store.usage()).toEqual(written.usage());
        expect(hexLeaves(await store.leaves())).toEqual(hexLeaves(await written.leaves()));
        const all = await store.range('0'.repeat(32), 'f'.repeat(32), 10_000);
        expect(all).toEqual([...objects.keys()].sort().map((g) => objects.get(g)));
        expect((await store.tombstones(Number.MAX_SAFE_INTEGER, 10_000)).map((o) => o.guid)).toEqual((await written.tombstones(Number.MAX_SAFE_INTEGER, 10_000)).map((o) => o.guid));
        expect((await store.diverted(undefined, 10_000)).map((o) => o.guid)).toEqual([...objects.values()].filter((o) => o.divertedTo).map((o) => o.guid).sort());
      } finally {
        await store.stop();
      }
    } finally {
      await written.stop();
      admin.disconnect();
    }
  });

  it('keeps a value over 1 KiB under a key of its own, and removes that key when the value shrinks or the object goes', async () => {
    const store = await connected();
    const admin = new Redis(server.url);
    try {
      const g = '4'.repeat(32);
      const big = object(g, '', { value: Buffer.alloc(5000, 9), size: 5000 });
      await store.put(big);
      expect(await admin.keys('pastry:v:*')).toEqual([`pastry:v:${g}`]);
      const { key, field } = redisLocation(g);
      expect((await admin.hgetBuffer(key, field))!.length).toBeLessThan(200);
      expect(await store.get(g)).toEqual(big);
      await store.put(object(g, 'small', { version: 2 }));
      expect(await admin.keys('pastry:v:*')).toEqual([]);
      await store.put({ ...big, version: 3 });
      expect(await store.delete(g)).toBe(true);
      expect(await admin.keys('pastry:v:*')).toEqual([]);
      expect(await store.get(g)).toBeUndefined();
    } finally {
      admin.disconnect();
      await store.stop();
    }
  });
});

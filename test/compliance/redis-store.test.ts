import Redis from 'ioredis';
import { RedisStore } from '../../services/node/src/store/redis-store';
import { UnavailableError } from '../../services/node/src/errors';
import { startRedis, type RedisServer } from '../helpers/redis';
import { object, storeCompliance } from './store-compliance';

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

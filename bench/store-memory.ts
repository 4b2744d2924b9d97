/**
 * Memory per stored object beyond its value bytes, for the memory store (V8 heap plus
 * buffers, after a full GC) and the Redis store (Redis' used_memory), at growing counts.
 * `make bench-store-memory`; STORE_MEMORY_ARGS="--counts 10000,300000,3000000".
 * Needs node --expose-gc (the make target passes it) and redis-server for the Redis rows.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { spawn } from 'node:child_process';
import { cpuSecondsOf } from './proc';
import { MemoryStore } from '../services/node/src/store/memory-store';
import { RedisStore } from '../services/node/src/store/redis-store';
import type { Store, StoredObject } from '../services/node/src/store/store';
import { flag } from './args';

const VALUE_BYTES = 64;

function objectOf(i: number): StoredObject {
  const value = createHash('sha512').update(`value-${i}`).digest();
  return {
    guid: createHash('sha256').update(`object-${i}`).digest('hex').slice(0, 32),
    value,
    version: 1_700_000_000_000 + i,
    writer: 'ab'.repeat(16),
    hash: createHash('sha256').update(value).digest('hex'),
    size: VALUE_BYTES,
    createdAt: 1_700_000_000_000 + i,
    tombstone: false,
    contentAddressed: false,
  };
}

function heapBytes(): number {
  (global as unknown as { gc: () => void }).gc();
  const m = process.memoryUsage();
  // external already includes arrayBuffers (Node's Buffers): adding both counts them twice.
  return m.heapUsed + m.external;
}

async function fill(store: Store, count: number): Promise<void> {
  const step = 256;
  for (let i = 0; i < count; i += step) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + step); j++) batch.push(store.put(objectOf(j)));
    await Promise.all(batch);
  }
}

async function memoryRow(count: number): Promise<number> {
  const before = heapBytes();
  const store = new MemoryStore();
  await fill(store, count);
  const after = heapBytes();
  const per = (after - before) / count - VALUE_BYTES;
  if ((await store.count()) !== count) throw new Error('count mismatch');
  return per;
}


interface RedisFigures {
  bytes: number;
  /** Redis' CPU and this process's CPU per operation, µs. */
  put: [number, number];
  get: [number, number];
  /** Per object of a metadata range read of the whole store, in pages of 1,000. */
  range: [number, number];
}

async function redisRow(count: number, port: number): Promise<RedisFigures> {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    const admin = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => 100 });
    for (let i = 0; i < 100; i++) {
      try {
        await admin.connect();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    const store = new RedisStore(`redis://127.0.0.1:${port}`);
    await store.start();
    const before = await used();
    const cpu = (): [number, number] => {
      const own = process.cpuUsage();
      return [cpuSecondsOf(child.pid!), (own.user + own.system) / 1e6];
    };
    const per = (a: [number, number], b: [number, number], n: number): [number, number] => [((b[0] - a[0]) / n) * 1e6, ((b[1] - a[1]) / n) * 1e6];
    const c0 = cpu();
    await fill(store, count);
    const c1 = cpu();
    const bytes = ((await used()) - before) / count - VALUE_BYTES;
    const gets = Math.min(count, 20_000);
    for (let i = 0; i < gets; i += 256) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(gets, i + 256); j++) batch.push(store.get(objectOf((j * 7919) % count).guid));
      await Promise.all(batch);
    }
    const c2 = cpu();
    let read = 0;
    let from = '0'.repeat(32);
    for (;;) {
      const page = await store.range(from, 'f'.repeat(32), 1000, { values: false });
      read += page.length;
      if (page.length < 1000) break;
      const last = BigInt(`0x${page[page.length - 1]!.guid}`) + 1n;
      from = last.toString(16).padStart(32, '0');
    }
    const c3 = cpu();
    if (read !== count) throw new Error(`range read ${read} of ${count}`);
    await store.stop();
    admin.disconnect();
    return { bytes, put: per(c0, c1, count), get: per(c1, c2, gets), range: per(c2, c3, count) };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const counts = flag('counts', '10000,300000').split(',').map(Number);
  const redis = flag('redis', 'yes') !== 'no';
  const rows: string[][] = [];
  const us = (x: [number, number]): string => `${x[0].toFixed(1)} + ${x[1].toFixed(1)}`;
  for (const n of counts) {
    const mem = await memoryRow(n);
    const red = redis ? await redisRow(n, 6470) : undefined;
    rows.push([n.toLocaleString('en'), mem.toFixed(0), red ? red.bytes.toFixed(0) : '-', red ? us(red.put) : '-', red ? us(red.get) : '-', red ? us(red.range) : '-']);
    process.stderr.write(`  ${n}: memory ${mem.toFixed(0)} B, redis ${red ? red.bytes.toFixed(0) : '-'} B\n`);
  }
  console.log(`\nbytes per stored object beyond its ${VALUE_BYTES}-byte value; Redis CPU per operation, µs (redis-server + this process)\n`);
  const widths = [12, 14, 13, 16, 16, 18];
  console.log(['objects', 'memory store', 'redis store', 'redis put', 'redis get', 'redis range/obj'].map((h, i) => h.padStart(widths[i]!)).join(''));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i]!)).join(''));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

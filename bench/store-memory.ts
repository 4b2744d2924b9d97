/**
 * Memory per stored object beyond its value bytes, for the memory store (V8 heap plus
 * buffers, after a full GC) and the Redis store (Redis' used_memory), at growing counts.
 * `make bench-store-memory`; STORE_MEMORY_ARGS="--counts 10000,300000,3000000".
 * Needs node --expose-gc (the make target passes it) and redis-server for the Redis rows.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { spawn } from 'node:child_process';
import { MemoryStore } from '../services/node/src/store/memory-store';
import { RedisStore } from '../services/node/src/store/redis-store';
import type { Store, StoredObject } from '../services/node/src/store/store';

const VALUE_BYTES = 64;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

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

async function redisRow(count: number, port: number): Promise<number> {
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
    await fill(store, count);
    const per = ((await used()) - before) / count - VALUE_BYTES;
    await store.stop();
    admin.disconnect();
    return per;
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const counts = flag('counts', '10000,300000').split(',').map(Number);
  const redis = flag('redis', 'yes') !== 'no';
  const rows: string[][] = [];
  for (const n of counts) {
    const mem = await memoryRow(n);
    const red = redis ? await redisRow(n, 6470) : NaN;
    rows.push([n.toLocaleString('en'), mem.toFixed(0), redis ? red.toFixed(0) : '-']);
    process.stderr.write(`  ${n}: memory ${mem.toFixed(0)} B, redis ${red.toFixed(0)} B\n`);
  }
  console.log(`\nbytes per stored object beyond its ${VALUE_BYTES}-byte value\n`);
  console.log(['objects', 'memory store', 'redis store'].map((h) => h.padStart(14)).join(''));
  for (const r of rows) console.log(r.map((c) => c.padStart(14)).join(''));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

import Redis from 'ioredis';
import type { Id } from '../core/id';
import { UnavailableError } from '../errors';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';

const FIELDS = ['version', 'writer', 'hash', 'size', 'createdAt', 'tombstone', 'contentAddressed'] as const;

// The usage hash (live objects, their bytes) changes in the same script as the object, so it
// is exact whatever the interleaving. KEYS: object, index, usage. Both return {objects, bytes}.
const UNCOUNT_OLD = `
local old = redis.call('HMGET', KEYS[1], 'size', 'tombstone')
if old[2] == '0' then
  redis.call('HINCRBY', KEYS[3], 'objects', -1)
  redis.call('HINCRBY', KEYS[3], 'bytes', -tonumber(old[1]))
end`;
const PUT_SCRIPT = `${UNCOUNT_OLD}
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'version', ARGV[3], 'writer', ARGV[4], 'hash', ARGV[5], 'size', ARGV[6], 'createdAt', ARGV[7], 'tombstone', ARGV[8], 'contentAddressed', ARGV[9])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[8] == '0' then
  redis.call('HINCRBY', KEYS[3], 'objects', 1)
  redis.call('HINCRBY', KEYS[3], 'bytes', tonumber(ARGV[6]))
end
return redis.call('HMGET', KEYS[3], 'objects', 'bytes')`;
const DELETE_SCRIPT = `${UNCOUNT_OLD}
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local usage = redis.call('HMGET', KEYS[3], 'objects', 'bytes')
return {deleted, usage[1], usage[2]}`;
/** Objects read per page when a Redis written without the usage hash is counted once. */
const COUNT_PAGE = 1000;

type Scripted = Redis & {
  pastryPut(object: string, index: string, usage: string, ...args: (string | Buffer)[]): Promise<(string | null)[]>;
  pastryDelete(object: string, index: string, usage: string, guid: string): Promise<[number, string | null, string | null]>;
};

/**
 * Objects in the pod's Redis sidecar: one hash per object and one sorted set of GUIDs (all
 * score 0) read by lexicographic range, so any ring range is one ZRANGEBYLEX.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly redis: Scripted;
  private readonly index: string;
  private readonly usageKey: string;
  private live: StoreUsage = { objects: 0, bytes: 0 };
  private refreshing: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly prefix = 'pastry:',
  ) {
    this.index = `${prefix}index`;
    this.usageKey = `${prefix}usage`;
    this.redis = new Redis(url, {
      lazyConnect: true,
      // Fail fast while Redis is away: the node reports not-ready and other replicas serve.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: () => 500,
    }) as Scripted;
    this.redis.defineCommand('pastryPut', { numberOfKeys: 3, lua: PUT_SCRIPT });
    this.redis.defineCommand('pastryDelete', { numberOfKeys: 3, lua: DELETE_SCRIPT });
    // Connection errors surface through healthy(); ioredis would otherwise log them.
    this.redis.on('error', () => undefined);
    // A sidecar that comes back may hold other contents (restarted empty): read its usage again.
    this.redis.on('ready', () => void this.refreshUsage());
  }

  async start(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect().catch(() => undefined);
    await this.refreshUsage();
  }

  usage(): StoreUsage {
    return { ...this.live };
  }

  /** Resolves once a usage read in progress ended (tests, tools). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  private refreshUsage(): Promise<void> {
    this.refreshing ??= this.readUsage()
      .catch(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * The usage hash, or, for data written before it existed, a one-time count of the store by
   * pages, written back unless a write created the hash meanwhile.
   */
  private async readUsage(): Promise<void> {
    if (!this.healthy()) return;
    const [objects, bytes] = await this.redis.hmget(this.usageKey, 'objects', 'bytes');
    if (objects !== null || (await this.redis.zcard(this.index)) === 0) {
      this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
      return;
    }
    const counted = { objects: 0, bytes: 0 };
    let from = '-';
    for (;;) {
      const guids = await this.redis.zrangebylex(this.index, from, '+', 'LIMIT', 0, COUNT_PAGE);
      const pipeline = this.redis.pipeline();
      for (const g of guids) pipeline.hmget(this.key(g), 'size', 'tombstone');
      for (const [err, reply] of (await pipeline.exec()) ?? []) {
        const [size, tombstone] = (reply ?? []) as (string | null)[];
        if (err || tombstone !== '0') continue;
        counted.objects++;
        counted.bytes += Number(size ?? 0);
      }
      if (guids.length < COUNT_PAGE) break;
      from = `(${guids[guids.length - 1]!}`;
    }
    await this.redis.multi().hsetnx(this.usageKey, 'objects', String(counted.objects)).hsetnx(this.usageKey, 'bytes', String(counted.bytes)).exec();
    const [o, b] = await this.redis.hmget(this.usageKey, 'objects', 'bytes');
    this.live = { objects: Number(o ?? 0), bytes: Number(b ?? 0) };
  }

  async stop(): Promise<void> {
    this.redis.disconnect();
  }

  healthy(): boolean {
    return this.redis.status === 'ready';
  }

  private key(guid: Id): string {
    return `${this.prefix}o:${guid}`;
  }

  async get(guid: Id): Promise<StoredObject | undefined> {
    const h = await this.guard(this.redis.hgetallBuffer(this.key(guid)));
    return h && h.value ? decode(guid, h) : undefined;
  }

  async put(o: StoredObject): Promise<void> {
    const [objects, bytes] = await this.guard(
      this.redis.pastryPut(
        this.key(o.guid),
        this.index,
        this.usageKey,
        o.guid,
        o.value,
        String(o.version),
        o.writer,
        o.hash,
        String(o.size),
        String(o.createdAt),
        o.tombstone ? '1' : '0',
        o.contentAddressed ? '1' : '0',
      ),
    );
    this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
  }

  async delete(guid: Id): Promise<boolean> {
    const [deleted, objects, bytes] = await this.guard(this.redis.pastryDelete(this.key(guid), this.index, this.usageKey, guid));
    this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
    return Number(deleted) > 0;
  }

  async range(from: Id, to: Id, limit: number, options: RangeOptions = {}): Promise<StoredObject[]> {
    const guids: string[] = [];
    const take = async (lo: string, hi: string): Promise<void> => {
      if (guids.length >= limit) return;
      guids.push(...(await this.guard(this.redis.zrangebylex(this.index, lo, hi, 'LIMIT', 0, limit - guids.length))));
    };
    if (from <= to) await take(`[${from}`, `[${to}`);
    else {
      await take(`[${from}`, '+');
      await take('-', `[${to}`);
    }
    if (guids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const g of guids) {
      if (options.values === false) pipeline.hmgetBuffer(this.key(g), ...FIELDS);
      else pipeline.hgetallBuffer(this.key(g));
    }
    const replies = (await this.guard(pipeline.exec())) ?? [];
    const out: StoredObject[] = [];
    replies.forEach(([err, reply], i) => {
      if (err || !reply) return;
      if (options.values === false) {
        const arr = reply as (Buffer | null)[];
        if (arr[0] === null) return;
        const h: Record<string, Buffer> = { value: Buffer.alloc(0) };
        FIELDS.forEach((f, j) => (h[f] = arr[j] ?? Buffer.alloc(0)));
        out.push(decode(guids[i]!, h));
      } else {
        const h = reply as Record<string, Buffer>;
        if (h.value) out.push(decode(guids[i]!, h));
      }
    });
    return out;
  }

  async count(): Promise<number> {
    return this.guard(this.redis.zcard(this.index));
  }

  /** Redis errors become UNAVAILABLE: the request may be retried elsewhere. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (error) {
      throw new UnavailableError(`redis: ${(error as Error).message}`);
    }
  }
}

function decode(guid: Id, h: Record<string, Buffer>): StoredObject {
  return {
    guid,
    value: h.value ?? Buffer.alloc(0),
    version: Number(h.version?.toString() ?? 0),
    writer: h.writer?.toString() ?? '',
    hash: h.hash?.toString() ?? '',
    size: Number(h.size?.toString() ?? 0),
    createdAt: Number(h.createdAt?.toString() ?? 0),
    tombstone: h.tombstone?.toString() === '1',
    contentAddressed: h.contentAddressed?.toString() === '1',
  };
}

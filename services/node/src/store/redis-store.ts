import Redis from 'ioredis';
import type { Id } from '../core/id';
import { UnavailableError } from '../errors';
import type { RangeOptions, Store, StoredObject } from './store';

const FIELDS = ['version', 'writer', 'hash', 'size', 'createdAt', 'tombstone', 'contentAddressed'] as const;

/**
 * Objects in the pod's Redis sidecar: one hash per object and one sorted set of GUIDs (all
 * score 0) read by lexicographic range, so any ring range is one ZRANGEBYLEX.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly index: string;

  constructor(
    url: string,
    private readonly prefix = 'pastry:',
  ) {
    this.index = `${prefix}index`;
    this.redis = new Redis(url, {
      lazyConnect: true,
      // Fail fast while Redis is away: the node reports not-ready and other replicas serve.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: () => 500,
    });
    // Connection errors surface through healthy(); ioredis would otherwise log them.
    this.redis.on('error', () => undefined);
  }

  async start(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect().catch(() => undefined);
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
    await this.guard(
      this.redis
        .multi()
        .hset(this.key(o.guid), {
          value: o.value,
          version: String(o.version),
          writer: o.writer,
          hash: o.hash,
          size: String(o.size),
          createdAt: String(o.createdAt),
          tombstone: o.tombstone ? '1' : '0',
          contentAddressed: o.contentAddressed ? '1' : '0',
        })
        .zadd(this.index, 0, o.guid)
        .exec(),
    );
  }

  async delete(guid: Id): Promise<boolean> {
    const res = await this.guard(this.redis.multi().del(this.key(guid)).zrem(this.index, guid).exec());
    return Number(res?.[0]?.[1] ?? 0) > 0;
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

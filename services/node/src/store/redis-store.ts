import Redis from 'ioredis';
import type { Id } from '../core/id';
import { ResourceExhaustedError, UnavailableError } from '../errors';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';
import { DIGEST_BYTES, LEAF_DIGITS, type LeafDigest } from './tree';

const FIELDS = ['version', 'writer', 'hash', 'size', 'createdAt', 'tombstone', 'contentAddressed', 'divertedTo', 'redirect'] as const;

// The usage hash (live objects, their bytes), the hash tree's leaves and the tombstone index
// change in the same script as the object, so they are exact whatever the interleaving.
// KEYS: object, index, usage, tree, tombstones, tree state, diversion pointers. The tree is kept for GUIDs up to
// the tree state ('done': all of them) while an older store's tree is being built.
const TREE_HELPERS = `
local function xorLeaf(tree, leaf, h, dc)
  local cur = redis.call('HGET', tree, leaf)
  local count = dc
  local w = {}
  for i = 0, 3 do w[i + 1] = tonumber(string.sub(h, i * 8 + 1, i * 8 + 8), 16) end
  if cur then
    count = count + tonumber(string.sub(cur, 34))
    for i = 0, 3 do w[i + 1] = bit.bxor(w[i + 1], tonumber(string.sub(cur, i * 8 + 1, i * 8 + 8), 16)) end
  end
  if count == 0 then
    redis.call('HDEL', tree, leaf)
    return
  end
  for i = 1, 4 do w[i] = bit.tohex(w[i], 8) end
  redis.call('HSET', tree, leaf, table.concat(w) .. ':' .. count)
end
local function account(tree, guid, version, writer, tombstone, dc)
  xorLeaf(tree, string.sub(guid, 1, ${LEAF_DIGITS}), redis.sha1hex(guid .. ':' .. version .. ':' .. writer .. ':' .. tombstone), dc)
end`;
const UNCOUNT_OLD = `${TREE_HELPERS}
local state = redis.call('GET', KEYS[6])
local kept = state == 'done' or (state and ARGV[1] <= state)
local old = redis.call('HMGET', KEYS[1], 'size', 'tombstone', 'version', 'writer', 'divertedTo')
if old[2] == '0' then
  redis.call('HINCRBY', KEYS[3], 'objects', -1)
  if not old[5] then redis.call('HINCRBY', KEYS[3], 'bytes', 0 - tonumber(old[1])) end
end
if old[2] and kept then account(KEYS[4], ARGV[1], old[3], old[4], old[2], -1) end
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])`;
const PUT_SCRIPT = `${UNCOUNT_OLD}
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'version', ARGV[3], 'writer', ARGV[4], 'hash', ARGV[5], 'size', ARGV[6], 'createdAt', ARGV[7], 'tombstone', ARGV[8], 'contentAddressed', ARGV[9])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'divertedTo', ARGV[10])
  redis.call('ZADD', KEYS[7], 0, ARGV[1])
else
  redis.call('HDEL', KEYS[1], 'divertedTo')
end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'redirect', ARGV[11]) else redis.call('HDEL', KEYS[1], 'redirect') end
if ARGV[8] == '0' then
  redis.call('HINCRBY', KEYS[3], 'objects', 1)
  if ARGV[10] == '' then redis.call('HINCRBY', KEYS[3], 'bytes', tonumber(ARGV[6])) end
else
  redis.call('ZADD', KEYS[5], tonumber(ARGV[7]), ARGV[1])
end
if kept then account(KEYS[4], ARGV[1], ARGV[3], ARGV[4], ARGV[8], 1) end
return redis.call('HMGET', KEYS[3], 'objects', 'bytes')`;
const DELETE_SCRIPT = `${UNCOUNT_OLD}
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local usage = redis.call('HMGET', KEYS[3], 'objects', 'bytes')
return {deleted, usage[1], usage[2]}`;
// KEYS: index, tree, tombstones, tree state. Starts the tree of a store that has none: an
// empty store's is complete at once, a filled one's is built page by page (TREE_PAGE_SCRIPT).
// Returns the state: 'done', or the GUID the build has reached ('' at the start).
const TREE_INIT_SCRIPT = `
local state = redis.call('GET', KEYS[4])
if state then return state end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SET', KEYS[4], 'done')
  return 'done'
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[4], '')
return ''`;
// KEYS: index, tree, tombstones, tree state; ARGV: object key prefix, page size. Adds the next
// page of GUIDs past the state to the tree in one atomic step, so that a write either comes
// before (the page reads it) or after (the write script accounts it).
const TREE_PAGE_SCRIPT = `${TREE_HELPERS}
local state = redis.call('GET', KEYS[4])
if state == 'done' or not state then return 'done' end
local from = '-'
if state ~= '' then from = '(' .. state end
local guids = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, tonumber(ARGV[2]))
for _, guid in ipairs(guids) do
  local o = redis.call('HMGET', ARGV[1] .. guid, 'version', 'writer', 'tombstone', 'createdAt')
  if o[3] then
    account(KEYS[2], guid, o[1], o[2], o[3], 1)
    if o[3] == '1' then redis.call('ZADD', KEYS[3], tonumber(o[4]), guid) end
  end
end
local next = 'done'
if #guids == tonumber(ARGV[2]) then next = guids[#guids] end
redis.call('SET', KEYS[4], next)
return next`;
/** Objects read per page when a Redis written without the usage hash is counted once. */
const COUNT_PAGE = 1000;
/** Objects one step of an older store's tree build reads. */
const TREE_PAGE = 1000;

type Scripted = Redis & {
  pastryPut(...keysAndArgs: (string | Buffer)[]): Promise<(string | null)[]>;
  pastryDelete(...keysAndArgs: string[]): Promise<[number, string | null, string | null]>;
  pastryTreeInit(index: string, tree: string, tombstones: string, state: string): Promise<string>;
  pastryTreePage(index: string, tree: string, tombstones: string, state: string, prefix: string, page: string): Promise<string>;
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
  private readonly treeKey: string;
  private readonly tombstonesKey: string;
  private readonly treeStateKey: string;
  private readonly divertedKey: string;
  private live: StoreUsage = { objects: 0, bytes: 0 };
  private refreshing: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly prefix = 'pastry:',
  ) {
    this.index = `${prefix}index`;
    this.usageKey = `${prefix}usage`;
    this.treeKey = `${prefix}tree`;
    this.tombstonesKey = `${prefix}tombstones`;
    this.treeStateKey = `${prefix}tree-state`;
    this.divertedKey = `${prefix}diverted`;
    this.redis = new Redis(url, {
      lazyConnect: true,
      // Fail fast while Redis is away: the node reports not-ready and other replicas serve.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: () => 500,
    }) as Scripted;
    this.redis.defineCommand('pastryPut', { numberOfKeys: 7, lua: PUT_SCRIPT });
    this.redis.defineCommand('pastryDelete', { numberOfKeys: 7, lua: DELETE_SCRIPT });
    this.redis.defineCommand('pastryTreeInit', { numberOfKeys: 4, lua: TREE_INIT_SCRIPT });
    this.redis.defineCommand('pastryTreePage', { numberOfKeys: 4, lua: TREE_PAGE_SCRIPT });
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
    this.refreshing ??= Promise.all([this.readUsage().catch(() => undefined), this.buildTree().catch(() => undefined)])
      .then(() => undefined)
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

  /**
   * Makes sure the store has a hash tree: a store written by an older node, or filled before
   * the tree existed, gets one built in pages while writes go on.
   */
  private async buildTree(): Promise<void> {
    if (!this.healthy()) return;
    const keys = [this.index, this.treeKey, this.tombstonesKey, this.treeStateKey] as const;
    let state = await this.redis.pastryTreeInit(...keys);
    while (state !== 'done' && this.healthy()) state = await this.redis.pastryTreePage(...keys, this.key(''), String(TREE_PAGE));
  }

  async leaves(): Promise<Map<number, LeafDigest>> {
    const [state, fields] = await this.guard(Promise.all([this.redis.get(this.treeStateKey), this.redis.hgetall(this.treeKey)]));
    if (state !== 'done') throw new UnavailableError('redis: the hash tree is still being built');
    const out = new Map<number, LeafDigest>();
    for (const [leaf, v] of Object.entries(fields)) {
      out.set(parseInt(leaf, 16), { digest: Buffer.from(v.slice(0, DIGEST_BYTES * 2), 'hex'), count: Number(v.slice(DIGEST_BYTES * 2 + 1)) });
    }
    return out;
  }

  async tombstones(before: number, limit: number): Promise<StoredObject[]> {
    const guids = await this.guard(this.redis.zrangebyscore(this.tombstonesKey, '-inf', String(before), 'LIMIT', 0, limit));
    return this.metadata(guids);
  }

  async diverted(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    if (limit <= 0) return [];
    const guids = await this.guard(this.redis.zrangebylex(this.divertedKey, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit));
    return this.metadata(guids);
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

  private objectKeys(guid: Id): [string, string, string, string, string, string, string] {
    return [this.key(guid), this.index, this.usageKey, this.treeKey, this.tombstonesKey, this.treeStateKey, this.divertedKey];
  }

  async get(guid: Id): Promise<StoredObject | undefined> {
    const h = await this.guard(this.redis.hgetallBuffer(this.key(guid)));
    return h && h.value ? decode(guid, h) : undefined;
  }

  async put(o: StoredObject): Promise<void> {
    const [objects, bytes] = await this.guard(
      this.redis.pastryPut(
        ...this.objectKeys(o.guid),
        o.guid,
        o.value,
        String(o.version),
        o.writer,
        o.hash,
        String(o.size),
        String(o.createdAt),
        o.tombstone ? '1' : '0',
        o.contentAddressed ? '1' : '0',
        o.divertedTo ?? '',
        o.redirect ?? '',
      ),
    );
    this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
  }

  async delete(guid: Id): Promise<boolean> {
    const [deleted, objects, bytes] = await this.guard(this.redis.pastryDelete(...this.objectKeys(guid), guid));
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
    return this.fetch(guids, options.values !== false);
  }

  private metadata(guids: string[]): Promise<StoredObject[]> {
    return this.fetch(guids, false);
  }

  /** The objects of `guids` that still exist, in that order; metadata only unless `values`. */
  private async fetch(guids: string[], values: boolean): Promise<StoredObject[]> {
    if (guids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const g of guids) {
      if (!values) pipeline.hmgetBuffer(this.key(g), ...FIELDS);
      else pipeline.hgetallBuffer(this.key(g));
    }
    const replies = (await this.guard(pipeline.exec())) ?? [];
    const out: StoredObject[] = [];
    replies.forEach(([err, reply], i) => {
      if (err || !reply) return;
      if (!values) {
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
      // maxmemory reached (noeviction): full, not away.
      if (/^OOM /.test((error as Error).message)) throw new ResourceExhaustedError(`redis: ${(error as Error).message}`);
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
    ...(h.divertedTo && h.divertedTo.length > 0 ? { divertedTo: h.divertedTo.toString() } : {}),
    ...(h.redirect && h.redirect.length > 0 ? { redirect: h.redirect.toString() } : {}),
  };
}

import Redis from 'ioredis';
import type { Id } from '../core/id';
import { ResourceExhaustedError, UnavailableError } from '../errors';
import { FLAG_DIVERTED_FROM, packObject, readMeta, unpackObject } from './record';
import type { RangeOptions, Store, StoredObject, StoreUsage } from './store';
import { DIGEST_BYTES, LEAF_DIGITS, LEAVES, leafOf, type LeafDigest } from './tree';

/**
 * Flag bit of a packed record (beside record.ts' own) for a value kept under a key of its
 * own: metadata reads then never carry large values, and a bucket stays small.
 */
const FLAG_OWN_KEY = 16;
/** Values larger than this get a key of their own; smaller ones sit in the record. */
const OWN_KEY_BYTES = 1024;

// Lua helpers over a packed record (record.ts): short strings, and the metadata the scripts
// need (to account an object out of the usage, the tree and the indexes when it changes).
const RECORD_HELPERS = `
local function short(s, i)
  local h = string.byte(s, i)
  if h < 128 then return string.sub(s, i + 1, i + h), i + 1 + h end
  if h < 255 then
    local t = {}
    for j = i + 1, i + h - 128 do t[#t + 1] = string.format('%02x', string.byte(s, j)) end
    return table.concat(t), i + 1 + h - 128
  end
  local n = string.byte(s, i + 1) * 256 + string.byte(s, i + 2)
  return string.sub(s, i + 3, i + 2 + n), i + 3 + n
end
local function skip(s, i)
  local h = string.byte(s, i)
  if h < 128 then return i + 1 + h end
  if h < 255 then return i + 1 + h - 128 end
  return i + 3 + string.byte(s, i + 1) * 256 + string.byte(s, i + 2)
end
local function hexOf(s)
  local t = {}
  for j = 1, #s do t[j] = string.format('%02x', string.byte(s, j)) end
  return table.concat(t)
end
-- version, writer, size, createdAt, tombstone ('0' or '1'), diverted, value under its own key,
-- a diverted file (divertedFrom)
local function meta(s)
  local flags = string.byte(s, 1)
  local version, a = short(s, 2)
  local writer, b = short(s, a)
  local c = skip(s, b)
  local size, d = short(s, c)
  local createdAt = short(s, d)
  local tombstone = '0'
  if bit.band(flags, 1) ~= 0 then tombstone = '1' end
  return version, writer, size, createdAt, tombstone, bit.band(flags, 4) ~= 0, bit.band(flags, ${FLAG_OWN_KEY}) ~= 0, bit.band(flags, ${FLAG_DIVERTED_FROM}) ~= 0
end
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
// The usage hash (live objects, their bytes), the hash tree's leaves and the tombstone and
// diversion indexes change in the same script as the object, so they are exact whatever the
// interleaving. KEYS: bucket, value key, usage, tree, tombstones, tree state, diversion
// pointers, diverted files; ARGV[1] the GUID, ARGV[2] its field in the bucket. The tree is kept for buckets
// up to the tree state ('done': all of them) while an older store's tree is being built.
const UNCOUNT_OLD = `${RECORD_HELPERS}
local state = redis.call('GET', KEYS[6])
local kept = state == 'done' or (state and state ~= '' and tonumber(string.sub(ARGV[1], 1, ${LEAF_DIGITS}), 16) <= tonumber(state))
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  local version, writer, size, _, tombstone, diverted, own = meta(old)
  if tombstone == '0' then
    redis.call('HINCRBY', KEYS[3], 'objects', -1)
    if not diverted then redis.call('HINCRBY', KEYS[3], 'bytes', 0 - tonumber(size)) end
  end
  if kept then account(KEYS[4], ARGV[1], version, writer, tombstone, -1) end
  if own then redis.call('DEL', KEYS[2]) end
end
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])`;
// ARGV[3] the record, ARGV[4] the value when the record says it has a key of its own.
const PUT_SCRIPT = `${UNCOUNT_OLD}
local version, writer, size, createdAt, tombstone, diverted, own, file = meta(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if own then redis.call('SET', KEYS[2], ARGV[4]) end
if tombstone == '0' then
  redis.call('HINCRBY', KEYS[3], 'objects', 1)
  if not diverted then redis.call('HINCRBY', KEYS[3], 'bytes', tonumber(size)) end
else
  redis.call('ZADD', KEYS[5], tonumber(createdAt), ARGV[1])
end
if diverted then redis.call('ZADD', KEYS[7], 0, ARGV[1]) end
if file then redis.call('ZADD', KEYS[8], 0, ARGV[1]) end
if kept then account(KEYS[4], ARGV[1], version, writer, tombstone, 1) end
return redis.call('HMGET', KEYS[3], 'objects', 'bytes')`;
const DELETE_SCRIPT = `${UNCOUNT_OLD}
local deleted = redis.call('HDEL', KEYS[1], ARGV[2])
local usage = redis.call('HMGET', KEYS[3], 'objects', 'bytes')
return {deleted, usage[1], usage[2]}`;
// KEYS: bucket, value key; ARGV: field. The record, and its value when it has its own key.
const GET_SCRIPT = `
local r = redis.call('HGET', KEYS[1], ARGV[1])
if not r then return {} end
if bit.band(string.byte(r, 1), ${FLAG_OWN_KEY}) ~= 0 then return {r, redis.call('GET', KEYS[2])} end
return {r}`;
// KEYS: tree, tombstones, tree state; ARGV: bucket key prefix. Starts the tree of a store
// that has none: an empty store's is complete at once, a filled one's is built bucket by
// bucket (TREE_BUCKET_SCRIPT). Returns the state: 'done', '' at the start, or the last bucket built.
const TREE_INIT_SCRIPT = `
local state = redis.call('GET', KEYS[3])
if state then return state end
for b = 0, ${LEAVES - 1} do
  if redis.call('EXISTS', ARGV[1] .. string.format('%0${LEAF_DIGITS}x', b)) == 1 then
    redis.call('DEL', KEYS[1], KEYS[2])
    redis.call('SET', KEYS[3], '')
    return ''
  end
end
redis.call('SET', KEYS[3], 'done')
return 'done'`;
// KEYS: tree, tombstones, tree state; ARGV: bucket key prefix. Adds the next bucket to the
// tree in one atomic step, so that a write either comes before (the step reads it) or after
// (the write script accounts it).
const TREE_BUCKET_SCRIPT = `${RECORD_HELPERS}
local state = redis.call('GET', KEYS[3])
if state == 'done' or not state then return 'done' end
local b = 0
if state ~= '' then b = tonumber(state) + 1 end
local fields = redis.call('HGETALL', ARGV[1] .. string.format('%0${LEAF_DIGITS}x', b))
for i = 1, #fields, 2 do
  local guid = hexOf(fields[i])
  local version, writer, _, createdAt, tombstone = meta(fields[i + 1])
  account(KEYS[1], guid, version, writer, tombstone, 1)
  if tombstone == '1' then redis.call('ZADD', KEYS[2], tonumber(createdAt), guid) end
end
local next = tostring(b)
if b == ${LEAVES - 1} then next = 'done' end
redis.call('SET', KEYS[3], next)
return next`;
/** GUIDs moved per step when a Redis written in the layout of one hash per object is converted. */
const MIGRATE_PAGE = 500;
/** Buckets read per round trip by a range read, at most (it starts with fewer). */
const MAX_BUCKETS_PER_READ = 256;

type Scripted = Redis & {
  pastryPut(...keysAndArgs: (string | Buffer)[]): Promise<(string | null)[]>;
  pastryDelete(...keysAndArgs: (string | Buffer)[]): Promise<[number, string | null, string | null]>;
  pastryGetBuffer(bucket: string, valueKey: string, field: Buffer): Promise<Buffer[]>;
  pastryTreeInit(tree: string, tombstones: string, state: string, prefix: string): Promise<string>;
  pastryTreeBucket(tree: string, tombstones: string, state: string, prefix: string): Promise<string>;
};

/** Where an object lives in Redis: its bucket's key and its field there (the GUID's 16 bytes). */
export function redisLocation(guid: Id, prefix = 'pastry:'): { key: string; field: Buffer } {
  return { key: bucketKey(prefix, leafOf(guid)), field: Buffer.from(guid, 'hex') };
}

function bucketKey(prefix: string, bucket: number): string {
  return `${prefix}b:${bucket.toString(16).padStart(LEAF_DIGITS, '0')}`;
}

/** The object a bucket's record holds; for a value under its own key, `value` is empty. */
export function unpackRedisRecord(guid: Id, record: Buffer): { object: StoredObject; ownKey: boolean } {
  return { object: unpackObject(guid, record), ownKey: (record[0]! & FLAG_OWN_KEY) !== 0 };
}

interface Segment {
  bucket: number;
  /** GUID bounds within the bucket, inclusive, as 16-byte fields. */
  lo: Buffer;
  hi: Buffer;
}

/**
 * Objects in the pod's Redis sidecar, packed: one record per object (metadata as in
 * record.ts, then the value) in a hash per tree bucket (the GUID's first three hex digits,
 * 4,096 buckets) under the GUID's 16 bytes. Redis then spends a hash entry and two short
 * strings on an object, not a key, a hash with nine named fields and a sorted-set entry.
 * A range read takes the buckets it spans in order and sorts each one's few hundred GUIDs;
 * values over 1 KiB sit under a key of their own so that metadata reads stay small.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly redis: Scripted;
  private readonly usageKey: string;
  private readonly treeKey: string;
  private readonly tombstonesKey: string;
  private readonly treeStateKey: string;
  private readonly divertedKey: string;
  private readonly divertedFilesKey: string;
  private readonly bucketPrefix: string;
  /** The layout of one hash per object and a sorted set of GUIDs, as older versions wrote it. */
  private readonly legacyIndex: string;
  private live: StoreUsage = { objects: 0, bytes: 0 };
  private refreshing: Promise<void> | undefined;
  /** Set while a store in the older layout is being converted: every operation waits for it. */
  private converting: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly prefix = 'pastry:',
  ) {
    this.usageKey = `${prefix}usage`;
    this.treeKey = `${prefix}tree`;
    this.tombstonesKey = `${prefix}tombstones`;
    this.treeStateKey = `${prefix}tree-state`;
    this.divertedKey = `${prefix}diverted`;
    this.divertedFilesKey = `${prefix}divertedFiles`;
    this.bucketPrefix = `${prefix}b:`;
    this.legacyIndex = `${prefix}index`;
    this.redis = new Redis(url, {
      lazyConnect: true,
      // Fail fast while Redis is away: the node reports not-ready and other replicas serve.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: () => 500,
      // Commands issued in the same tick go out as one pipeline: one write instead of many.
      enableAutoPipelining: true,
    }) as Scripted;
    this.redis.defineCommand('pastryPut', { numberOfKeys: 8, lua: PUT_SCRIPT });
    this.redis.defineCommand('pastryDelete', { numberOfKeys: 8, lua: DELETE_SCRIPT });
    this.redis.defineCommand('pastryGet', { numberOfKeys: 2, lua: GET_SCRIPT });
    // A script, not HGETALL: ioredis would turn HGETALL's binary field names into text.
    this.redis.defineCommand('pastryBucket', { numberOfKeys: 1, lua: "return redis.call('HGETALL', KEYS[1])" });
    this.redis.defineCommand('pastryTreeInit', { numberOfKeys: 3, lua: TREE_INIT_SCRIPT });
    this.redis.defineCommand('pastryTreeBucket', { numberOfKeys: 3, lua: TREE_BUCKET_SCRIPT });
    // Connection errors surface through healthy(); ioredis would otherwise log them.
    this.redis.on('error', () => undefined);
    // A sidecar that comes back may hold other contents (restarted empty): read its usage again.
    this.redis.on('ready', () => void this.refreshUsage());
  }

  async start(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect().catch(() => undefined);
    // A conversion of millions of objects takes minutes: the node starts serving (and its
    // probes answer) meanwhile, not ready, and store operations wait for it.
    if (this.connected() && (await this.redis.exists(this.legacyIndex).catch(() => 0)) > 0) void this.refreshUsage();
    else await this.refreshUsage();
  }

  usage(): StoreUsage {
    return { ...this.live };
  }

  /** Resolves once a usage read in progress ended (tests, tools). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  private refreshUsage(): Promise<void> {
    this.refreshing ??= this.convert()
      .catch(() => undefined)
      .then(() => Promise.all([this.readUsage().catch(() => undefined), this.buildTree().catch(() => undefined)]))
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * Converts a store written in the older layout (a hash per object, a sorted set of GUIDs)
   * page by page, each page in one transaction, so that an interrupted conversion resumes
   * where it stopped. Operations wait meanwhile: this node is the store's only writer, and
   * the usage, tree and indexes are by GUID, the same in both layouts.
   */
  private convert(): Promise<void> {
    if (!this.connected()) return Promise.resolve();
    const p = this.redis.exists(this.legacyIndex).then((n) => (n > 0 ? this.convertPages() : undefined));
    this.converting = p;
    return p.finally(() => {
      if (this.converting === p) this.converting = undefined;
    });
  }

  private async convertPages(): Promise<void> {
    for (;;) {
      const guids = await this.redis.zrangebylex(this.legacyIndex, '-', '+', 'LIMIT', 0, MIGRATE_PAGE);
      if (guids.length === 0) return;
      const read = this.redis.pipeline();
      for (const g of guids) read.hgetallBuffer(this.legacyKey(g));
      const replies = (await read.exec()) ?? [];
      const write = this.redis.multi();
      guids.forEach((g, i) => {
        const [err, h] = replies[i] ?? [];
        if (err) throw err;
        const fields = h as Record<string, Buffer> | null;
        if (fields && fields.value) this.writeRecord(write, legacyDecode(g, fields));
        write.del(this.legacyKey(g));
      });
      write.zrem(this.legacyIndex, ...guids);
      await write.exec();
    }
  }

  private legacyKey(guid: Id): string {
    return `${this.prefix}o:${guid}`;
  }

  /** A record and, for a large value, its own key, written without the scripts (conversion only). */
  private writeRecord(pipeline: ReturnType<Redis['multi']>, o: StoredObject): void {
    const { key, field } = redisLocation(o.guid, this.prefix);
    const [record, own] = this.pack(o);
    pipeline.hset(key, field, record);
    if (own) pipeline.set(this.valueKey(o.guid), own);
  }

  /** The record to keep in the bucket, and the value when it goes under its own key. */
  private pack(o: StoredObject): [Buffer, Buffer | undefined] {
    if (o.value.length <= OWN_KEY_BYTES) return [packObject(o), undefined];
    const record = packObject({ ...o, value: Buffer.alloc(0) });
    record[0] = record[0]! | FLAG_OWN_KEY;
    return [record, o.value];
  }

  /**
   * The usage hash, or, for data written before it existed, a one-time count of the store by
   * buckets, written back unless a write created the hash meanwhile.
   */
  private async readUsage(): Promise<void> {
    if (!this.connected()) return;
    const [objects, bytes] = await this.redis.hmget(this.usageKey, 'objects', 'bytes');
    if (objects !== null || (await this.count()) === 0) {
      this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
      return;
    }
    const counted = { objects: 0, bytes: 0 };
    for (let b = 0; b < LEAVES; b += 64) {
      const pipeline = this.redis.pipeline();
      for (let i = b; i < b + 64; i++) pipeline.hvalsBuffer(bucketKey(this.prefix, i));
      for (const [err, reply] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        for (const record of reply as Buffer[]) {
          const [meta] = readMeta(record, 0);
          if (meta.tombstone) continue;
          counted.objects++;
          if (!meta.divertedTo) counted.bytes += meta.size;
        }
      }
    }
    await this.redis.multi().hsetnx(this.usageKey, 'objects', String(counted.objects)).hsetnx(this.usageKey, 'bytes', String(counted.bytes)).exec();
    const [o, b] = await this.redis.hmget(this.usageKey, 'objects', 'bytes');
    this.live = { objects: Number(o ?? 0), bytes: Number(b ?? 0) };
  }

  /**
   * Makes sure the store has a hash tree: a store written by an older node, or filled before
   * the tree existed, gets one built bucket by bucket while writes go on.
   */
  private async buildTree(): Promise<void> {
    if (!this.connected()) return;
    const keys = [this.treeKey, this.tombstonesKey, this.treeStateKey, this.bucketPrefix] as const;
    let state = await this.redis.pastryTreeInit(...keys);
    while (state !== 'done' && this.connected()) state = await this.redis.pastryTreeBucket(...keys);
  }

  /** Waits while an older layout is being converted. */
  private async ready(): Promise<void> {
    while (this.converting) await this.converting.catch(() => undefined);
  }

  async leaves(): Promise<Map<number, LeafDigest>> {
    await this.ready();
    const [state, fields] = await this.guard(Promise.all([this.redis.get(this.treeStateKey), this.redis.hgetall(this.treeKey)]));
    if (state !== 'done') throw new UnavailableError('redis: the hash tree is still being built');
    const out = new Map<number, LeafDigest>();
    for (const [leaf, v] of Object.entries(fields)) {
      out.set(parseInt(leaf, 16), { digest: Buffer.from(v.slice(0, DIGEST_BYTES * 2), 'hex'), count: Number(v.slice(DIGEST_BYTES * 2 + 1)) });
    }
    return out;
  }

  async tombstones(before: number, limit: number): Promise<StoredObject[]> {
    await this.ready();
    const guids = await this.guard(this.redis.zrangebyscore(this.tombstonesKey, '-inf', String(before), 'LIMIT', 0, limit));
    return this.metadata(guids);
  }

  async diverted(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    return this.indexed(this.divertedKey, after, limit);
  }

  async divertedFiles(after: Id | undefined, limit: number): Promise<StoredObject[]> {
    return this.indexed(this.divertedFilesKey, after, limit);
  }

  /** Metadata of the GUIDs in the index at `key` above `after`, at most `limit`. */
  private async indexed(key: string, after: Id | undefined, limit: number): Promise<StoredObject[]> {
    if (limit <= 0) return [];
    await this.ready();
    const guids = await this.guard(this.redis.zrangebylex(key, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit));
    return this.metadata(guids);
  }

  async stop(): Promise<void> {
    this.redis.disconnect();
  }

  /** False while Redis is away, and while an older layout is being converted. */
  healthy(): boolean {
    return this.connected() && this.converting === undefined;
  }

  private connected(): boolean {
    return this.redis.status === 'ready';
  }

  private valueKey(guid: Id): string {
    return `${this.prefix}v:${guid}`;
  }

  private objectKeys(guid: Id): [string, string, string, string, string, string, string, string] {
    return [redisLocation(guid, this.prefix).key, this.valueKey(guid), this.usageKey, this.treeKey, this.tombstonesKey, this.treeStateKey, this.divertedKey, this.divertedFilesKey];
  }

  async get(guid: Id): Promise<StoredObject | undefined> {
    await this.ready();
    const { key, field } = redisLocation(guid, this.prefix);
    const [record, value] = await this.guard(this.redis.pastryGetBuffer(key, this.valueKey(guid), field));
    if (!record) return undefined;
    const { object, ownKey } = unpackRedisRecord(guid, record);
    return ownKey ? { ...object, value: value ?? Buffer.alloc(0) } : object;
  }

  async put(o: StoredObject): Promise<void> {
    await this.ready();
    const [record, own] = this.pack(o);
    const [objects, bytes] = await this.guard(
      this.redis.pastryPut(
        ...this.objectKeys(o.guid),
        o.guid,
        redisLocation(o.guid, this.prefix).field,
        record,
        own ?? '',
      ),
    );
    this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
  }

  async delete(guid: Id): Promise<boolean> {
    await this.ready();
    const [deleted, objects, bytes] = await this.guard(this.redis.pastryDelete(...this.objectKeys(guid), guid, redisLocation(guid, this.prefix).field));
    this.live = { objects: Number(objects ?? 0), bytes: Number(bytes ?? 0) };
    return Number(deleted) > 0;
  }

  async range(from: Id, to: Id, limit: number, options: RangeOptions = {}): Promise<StoredObject[]> {
    if (limit <= 0) return [];
    await this.ready();
    const values = options.values !== false;
    const found: [StoredObject, boolean][] = [];
    const segments = rangeSegments(from, to);
    let batch = 4;
    for (let s = 0; s < segments.length && found.length < limit; ) {
      const part = segments.slice(s, s + batch);
      s += part.length;
      batch = Math.min(batch * 2, MAX_BUCKETS_PER_READ);
      const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & { pastryBucketBuffer(bucket: string): unknown };
      for (const seg of part) pipeline.pastryBucketBuffer(bucketKey(this.prefix, seg.bucket));
      const replies = (await this.guard(pipeline.exec())) ?? [];
      part.forEach((seg, i) => {
        const [err, reply] = replies[i] ?? [];
        if (err) throw new UnavailableError(`redis: ${(err as Error).message}`);
        const flat = reply as Buffer[];
        const entries: [Buffer, Buffer][] = [];
        for (let j = 0; j < flat.length; j += 2) {
          const k = flat[j]!;
          if (Buffer.compare(k, seg.lo) >= 0 && Buffer.compare(k, seg.hi) <= 0) entries.push([k, flat[j + 1]!]);
        }
        entries.sort((a, b) => Buffer.compare(a[0], b[0]));
        for (const [k, record] of entries) {
          if (found.length >= limit) break;
          const { object, ownKey } = unpackRedisRecord(k.toString('hex'), record);
          found.push([values ? object : { ...object, value: Buffer.alloc(0) }, values && ownKey]);
        }
      });
    }
    const own = found.filter(([, ownKey]) => ownKey).map(([o]) => o);
    if (own.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const o of own) pipeline.getBuffer(this.valueKey(o.guid));
      const replies = (await this.guard(pipeline.exec())) ?? [];
      own.forEach((o, i) => (o.value = (replies[i]?.[1] as Buffer | null) ?? Buffer.alloc(0)));
    }
    return found.map(([o]) => o);
  }

  /** The objects of `guids` that still exist, in that order, values empty. */
  private async metadata(guids: string[]): Promise<StoredObject[]> {
    if (guids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const g of guids) {
      const { key, field } = redisLocation(g, this.prefix);
      pipeline.hgetBuffer(key, field);
    }
    const replies = (await this.guard(pipeline.exec())) ?? [];
    const out: StoredObject[] = [];
    replies.forEach(([err, reply], i) => {
      if (err || !reply) return;
      out.push({ ...unpackRedisRecord(guids[i]!, reply as Buffer).object, value: Buffer.alloc(0) });
    });
    return out;
  }

  async count(): Promise<number> {
    await this.ready();
    const pipeline = this.redis.pipeline();
    for (let b = 0; b < LEAVES; b++) pipeline.hlen(bucketKey(this.prefix, b));
    const replies = (await this.guard(pipeline.exec())) ?? [];
    let n = 0;
    for (const [err, reply] of replies) {
      if (err) throw new UnavailableError(`redis: ${(err as Error).message}`);
      n += Number(reply);
    }
    return n;
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

/** The buckets a ring range from..to (inclusive; from > to wraps) covers, in ring order, with the bounds within each. */
function rangeSegments(from: Id, to: Id): Segment[] {
  const lo = Buffer.from(from, 'hex');
  const hi = Buffer.from(to, 'hex');
  const min = Buffer.alloc(16, 0);
  const max = Buffer.alloc(16, 0xff);
  const run = (a: Buffer, fa: number, b: Buffer, fb: number): Segment[] => {
    const out: Segment[] = [];
    for (let bucket = fa; bucket <= fb; bucket++) out.push({ bucket, lo: bucket === fa ? a : min, hi: bucket === fb ? b : max });
    return out;
  };
  if (from <= to) return run(lo, leafOf(from), hi, leafOf(to));
  return [...run(lo, leafOf(from), max, LEAVES - 1), ...run(min, 0, hi, leafOf(to))];
}

/** An object as the older layout kept it: a hash of named fields. */
function legacyDecode(guid: Id, h: Record<string, Buffer>): StoredObject {
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

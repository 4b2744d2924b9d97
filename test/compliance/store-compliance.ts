import { createHash } from 'node:crypto';
import { fromBigInt, RING_SIZE } from '../../services/node/src/core/id';
import type { Store, StoredObject } from '../../services/node/src/store/store';
import { LeafTable, type LeafDigest } from '../../services/node/src/store/tree';

export function object(guid: string, value = 'v', overrides: Partial<StoredObject> = {}): StoredObject {
  const bytes = Buffer.from(value);
  return {
    guid,
    value: bytes,
    version: 1,
    writer: 'a'.repeat(32),
    hash: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    createdAt: 1_700_000_000_000,
    tombstone: false,
    contentAddressed: false,
    ...overrides,
  };
}

/** The same behaviour, asserted against every Store implementation. */
export function storeCompliance(name: string, create: () => Promise<Store>, destroy: (s: Store) => Promise<void> = (s) => s.stop()): void {
  describe(`Store compliance: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await create();
      await store.start();
    });

    afterEach(async () => {
      await destroy(store);
    });

    it('returns undefined for an absent object', async () => {
      expect(await store.get('0'.repeat(32))).toBeUndefined();
      expect(await store.count()).toBe(0);
    });

    it('stores and returns an object with all its metadata, binary-safe', async () => {
      const bytes = Buffer.from([0, 255, 10, 13, 0, 128]);
      const o = object('1'.repeat(32), '', { value: bytes, size: 6, version: 7, tombstone: false, contentAddressed: true, hash: 'ab'.repeat(32) });
      await store.put(o);
      const got = await store.get(o.guid);
      expect(got).toEqual(o);
      expect(got!.value.equals(bytes)).toBe(true);
      expect(await store.count()).toBe(1);
    });

    it('keeps any writer and hash text as given, hex or not, and large versions exactly', async () => {
      const o = object('7'.repeat(32), 'x', { writer: 'Not-Hex-Writer', hash: '', version: Number.MAX_SAFE_INTEGER, createdAt: 1_800_000_000_123 });
      await store.put(o);
      expect(await store.get(o.guid)).toEqual(o);
      const upper = object('8'.repeat(32), 'y', { writer: 'AB'.repeat(16), hash: 'CD'.repeat(32) });
      await store.put(upper);
      expect(await store.get(upper.guid)).toEqual(upper);
      expect((await store.range('7'.repeat(32), '8'.repeat(32), 10, { values: false })).map((r) => [r.writer, r.hash, r.version])).toEqual([
        ['Not-Hex-Writer', '', Number.MAX_SAFE_INTEGER],
        ['AB'.repeat(16), 'CD'.repeat(32), 1],
      ]);
    });

    it('overwrites an object in place', async () => {
      await store.put(object('2'.repeat(32), 'first'));
      await store.put(object('2'.repeat(32), 'second', { version: 2, tombstone: true }));
      const got = await store.get('2'.repeat(32));
      expect(got!.value.toString()).toBe('second');
      expect(got!.version).toBe(2);
      expect(got!.tombstone).toBe(true);
      expect(await store.count()).toBe(1);
    });

    it('a returned object is a copy: mutating it changes nothing stored', async () => {
      await store.put(object('3'.repeat(32), 'abc'));
      const got = await store.get('3'.repeat(32));
      got!.value[0] = 0x7a;
      expect((await store.get('3'.repeat(32)))!.value.toString()).toBe('abc');
    });

    it('deletes, and reports whether anything was there', async () => {
      await store.put(object('4'.repeat(32)));
      expect(await store.delete('4'.repeat(32))).toBe(true);
      expect(await store.delete('4'.repeat(32))).toBe(false);
      expect(await store.get('4'.repeat(32))).toBeUndefined();
      expect(await store.count()).toBe(0);
    });

    it('reads ring ranges in GUID order, inclusive, with a limit, and across the wrap-around', async () => {
      const guids = Array.from({ length: 40 }, (_, i) => fromBigInt((RING_SIZE / 40n) * BigInt(i) + 12345n));
      for (const g of [...guids].reverse()) await store.put(object(g));
      const mid = await store.range(guids[10]!, guids[19]!, 100);
      expect(mid.map((o) => o.guid)).toEqual(guids.slice(10, 20));
      const limited = await store.range(guids[10]!, guids[19]!, 3);
      expect(limited.map((o) => o.guid)).toEqual(guids.slice(10, 13));
      const wrapped = await store.range(guids[37]!, guids[2]!, 100);
      expect(wrapped.map((o) => o.guid)).toEqual([...guids.slice(37), ...guids.slice(0, 3)]);
      const empty = await store.range(fromBigInt(1n), fromBigInt(2n), 100);
      expect(empty).toEqual([]);
    });

    it('reads any range of many objects, small and large, as a sorted model does', async () => {
      let seed = 0x2545f491;
      const rand = (): number => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const guid = (): string => Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
      const model = new Map<string, StoredObject>();
      for (let i = 0; i < 400; i++) {
        // Every tenth value is past a kilobyte; GUIDs share bucket prefixes now and then.
        const g = i % 7 === 0 ? 'ab' + guid().slice(2) : guid();
        const bytes = Buffer.alloc(i % 10 === 0 ? 1000 + Math.floor(rand() * 3000) : Math.floor(rand() * 100), i % 251);
        const o = object(g, '', { value: bytes, size: bytes.length, version: 1 + (i % 4), tombstone: i % 13 === 0 });
        model.set(g, o);
        await store.put(o);
      }
      // Large values shrink, small ones grow, some go.
      for (const [g, o] of [...model].slice(0, 60)) {
        if (o.value.length > 1000) {
          const small = object(g, 'now small', { version: o.version + 1 });
          model.set(g, small);
          await store.put(small);
        } else if (o.value.length % 3 === 0) {
          const big = object(g, '', { value: Buffer.alloc(2048, 7), size: 2048, version: o.version + 1 });
          model.set(g, big);
          await store.put(big);
        } else {
          model.delete(g);
          expect(await store.delete(g)).toBe(true);
        }
      }
      const sorted = [...model.keys()].sort();
      expect(await store.count()).toBe(sorted.length);
      for (let q = 0; q < 40; q++) {
        const from = q === 0 ? '0'.repeat(32) : guid();
        const to = q === 0 ? 'f'.repeat(32) : q % 5 === 1 ? from : guid();
        const limit = q % 3 === 0 ? 1000 : 1 + Math.floor(rand() * 30);
        const inRange = from <= to ? sorted.filter((g) => g >= from && g <= to) : [...sorted.filter((g) => g >= from), ...sorted.filter((g) => g <= to)];
        const want = inRange.slice(0, limit);
        const got = await store.range(from, to, limit);
        expect(got.map((o) => o.guid)).toEqual(want);
        for (const o of got) expect(o).toEqual(model.get(o.guid));
        const meta = await store.range(from, to, limit, { values: false });
        expect(meta.map((o) => [o.guid, o.version, o.size, o.value.length])).toEqual(want.map((g) => [g, model.get(g)!.version, model.get(g)!.size, 0]));
      }
      for (const g of sorted.slice(0, 50)) expect(await store.get(g)).toEqual(model.get(g));
    });

    it('reads metadata without values when asked', async () => {
      await store.put(object('7'.repeat(32), 'payload', { version: 9 }));
      const [meta] = await store.range('7'.repeat(32), '7'.repeat(32), 10, { values: false });
      expect(meta).toMatchObject({ guid: '7'.repeat(32), version: 9, size: 7, tombstone: false });
      expect(meta!.value).toHaveLength(0);
    });

    it('is healthy once started', () => {
      expect(store.healthy()).toBe(true);
    });

    it('keeps its usage (live objects, their bytes) through puts, overwrites, tombstones and deletes', async () => {
      expect(store.usage()).toEqual({ objects: 0, bytes: 0 });
      await store.put(object('1'.repeat(32), 'a'.repeat(100)));
      await store.put(object('2'.repeat(32), 'b'.repeat(50)));
      expect(store.usage()).toEqual({ objects: 2, bytes: 150 });
      await store.put(object('1'.repeat(32), 'c'.repeat(10), { version: 2 }));
      expect(store.usage()).toEqual({ objects: 2, bytes: 60 });
      await store.put(object('2'.repeat(32), '', { version: 2, tombstone: true }));
      expect(store.usage()).toEqual({ objects: 1, bytes: 10 });
      // A tombstone written over a tombstone, and a live object over a tombstone.
      await store.put(object('2'.repeat(32), '', { version: 3, tombstone: true }));
      await store.put(object('3'.repeat(32), '', { tombstone: true }));
      await store.put(object('3'.repeat(32), 'd'.repeat(7), { version: 2 }));
      expect(store.usage()).toEqual({ objects: 2, bytes: 17 });
      expect(await store.delete('1'.repeat(32))).toBe(true);
      expect(await store.delete('2'.repeat(32))).toBe(true);
      expect(await store.delete('9'.repeat(32))).toBe(false);
      expect(store.usage()).toEqual({ objects: 1, bytes: 7 });
      expect(await store.count()).toBe(1);
    });

    it('keeps its hash-tree leaves and its tombstone index through puts, overwrites, tombstones and deletes', async () => {
      const model = new Map<string, StoredObject>();
      let seed = 7;
      const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      // Few leaves so that many objects share one, as in a big store.
      const guids = Array.from({ length: 60 }, (_, i) => ['abc', 'abd', '000', 'fff'][i % 4]! + createHash('sha256').update(`g${i}`).digest('hex').slice(0, 29));
      for (let step = 0; step < 600; step++) {
        const guid = guids[next(guids.length)]!;
        if (next(5) === 0) {
          expect(await store.delete(guid)).toBe(model.delete(guid));
          continue;
        }
        const tombstone = next(3) === 0;
        const o = object(guid, tombstone ? '' : `v${step}`, { version: step + 1, writer: next(2) === 0 ? 'a'.repeat(32) : 'b'.repeat(32), tombstone, createdAt: 1_000 + next(50) });
        await store.put(o);
        model.set(guid, o);
      }
      const expected = new LeafTable();
      for (const o of model.values()) expected.apply(o, 1);
      expect(hexLeaves(await store.leaves())).toEqual(hexLeaves(expected.snapshot()));
      expect([...(await store.leaves()).values()].reduce((n, l) => n + l.count, 0)).toBe(model.size);
      const dead = [...model.values()].filter((o) => o.tombstone).sort((a, b) => a.createdAt - b.createdAt);
      expect(dead.length).toBeGreaterThan(3);
      const cutoff = dead[Math.floor(dead.length / 2)]!.createdAt;
      const old = await store.tombstones(cutoff, 1000);
      expect(old.map((o) => o.guid).sort()).toEqual(dead.filter((o) => o.createdAt <= cutoff).map((o) => o.guid).sort());
      expect(old.every((o) => o.tombstone && o.value.length === 0)).toBe(true);
      for (let i = 1; i < old.length; i++) expect(old[i - 1]!.createdAt).toBeLessThanOrEqual(old[i]!.createdAt);
      expect((await store.tombstones(cutoff, 2)).length).toBe(2);
      for (const o of model.values()) await store.delete(o.guid);
      expect((await store.leaves()).size).toBe(0);
      expect(await store.tombstones(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    });

    it('keeps diversion pointers: listed in GUID order by page, counted as objects without bytes, in the tree as the copy they stand for', async () => {
      const holder = 'e'.repeat(32);
      const real = object('5'.repeat(32), 'r'.repeat(40), { version: 3 });
      const pointer = (guid: string, version = 3): StoredObject => ({ ...object(guid, 'r'.repeat(40), { version }), value: Buffer.alloc(0), divertedTo: holder });
      await store.put(real);
      const leavesOfReal = hexLeaves(await store.leaves());
      await store.delete(real.guid);
      await store.put(pointer(real.guid));
      // The pointer stands for the same version: the tree cannot tell them apart.
      expect(hexLeaves(await store.leaves())).toEqual(leavesOfReal);
      expect(store.usage()).toEqual({ objects: 1, bytes: 0 });
      const got = await store.get(real.guid);
      expect(got?.divertedTo).toBe(holder);
      expect(got?.value.length).toBe(0);
      expect(got?.size).toBe(40);
      for (const g of ['3', '9', '1', '7']) await store.put(pointer(g.repeat(32)));
      await store.put(object('2'.repeat(32), 'x'));
      const all = await store.diverted(undefined, 100);
      expect(all.map((o) => o.guid[0])).toEqual(['1', '3', '5', '7', '9']);
      expect(all.every((o) => o.divertedTo === holder && o.value.length === 0)).toBe(true);
      expect((await store.diverted('3'.repeat(32), 2)).map((o) => o.guid[0])).toEqual(['5', '7']);
      expect(await store.diverted('9'.repeat(32), 10)).toEqual([]);
      // The real copy taking the pointer's place, a tombstone over one, and a delete: each leaves the index.
      await store.put(real);
      await store.put(object('3'.repeat(32), '', { version: 4, tombstone: true }));
      expect(await store.delete('9'.repeat(32))).toBe(true);
      expect((await store.diverted(undefined, 100)).map((o) => o.guid[0])).toEqual(['1', '7']);
      expect((await store.get(real.guid))?.divertedTo).toBeUndefined();
      expect(store.usage()).toEqual({ objects: 4, bytes: 41 });
    });

    it('keeps a file-diversion redirect with its record, and drops it when a plain copy replaces the record', async () => {
      const salted = 'c'.repeat(32);
      const redirect: StoredObject = { ...object('6'.repeat(32), '', { version: 5 }), redirect: salted };
      await store.put(redirect);
      expect((await store.get(redirect.guid))?.redirect).toBe(salted);
      expect((await store.range('6'.repeat(32), '6'.repeat(32), 10, { values: false }))[0]?.redirect).toBe(salted);
      expect(store.usage()).toEqual({ objects: 1, bytes: 0 });
      await store.put(object(redirect.guid, 'back', { version: 6 }));
      const plain = await store.get(redirect.guid);
      expect(plain?.redirect).toBeUndefined();
      expect(plain?.value.toString()).toBe('back');
      // A live object with no bytes is overwritten and deleted like any other.
      await store.put(object('8'.repeat(32), ''));
      await store.put(object('8'.repeat(32), '', { version: 2 }));
      expect(await store.delete('8'.repeat(32))).toBe(true);
      expect(store.usage()).toEqual({ objects: 1, bytes: 4 });
    });

    it('indexes diverted files (divertedFrom) in GUID order, and drops them from the index when overwritten, tombstoned or deleted', async () => {
      const original = 'd'.repeat(32);
      const file = (guid: string, version = 2): StoredObject => ({ ...object(guid, 'file bytes', { version }), divertedFrom: original });
      for (const g of ['4', '2', '8', '6']) await store.put(file(g.repeat(32)));
      await store.put(object('5'.repeat(32), 'plain'));
      const all = await store.divertedFiles(undefined, 100);
      expect(all.map((o) => o.guid[0])).toEqual(['2', '4', '6', '8']);
      expect(all.every((o) => o.divertedFrom === original && o.value.length === 0 && o.size === 10)).toBe(true);
      expect((await store.divertedFiles('2'.repeat(32), 2)).map((o) => o.guid[0])).toEqual(['4', '6']);
      expect(await store.divertedFiles('8'.repeat(32), 10)).toEqual([]);
      expect(await store.divertedFiles(undefined, 0)).toEqual([]);
      // The field travels with the record and counts as a live object with its bytes.
      expect((await store.get('4'.repeat(32)))?.divertedFrom).toBe(original);
      expect(store.usage()).toEqual({ objects: 5, bytes: 45 });
      await store.put(object('2'.repeat(32), 'plain now', { version: 3 }));
      await store.put(object('4'.repeat(32), '', { version: 3, tombstone: true }));
      expect(await store.delete('8'.repeat(32))).toBe(true);
      expect((await store.divertedFiles(undefined, 100)).map((o) => o.guid[0])).toEqual(['6']);
      expect((await store.get('2'.repeat(32)))?.divertedFrom).toBeUndefined();
      // A newer diverted file in place of a plain object joins the index.
      await store.put(file('5'.repeat(32), 9));
      expect((await store.divertedFiles(undefined, 100)).map((o) => o.guid[0])).toEqual(['5', '6']);
    });
  });
}

/** Leaves as comparable plain data. */
export function hexLeaves(leaves: Map<number, LeafDigest>): Record<number, string> {
  return Object.fromEntries([...leaves].sort((a, b) => a[0] - b[0]).map(([leaf, d]) => [leaf, `${d.digest.toString('hex')}:${d.count}`]));
}

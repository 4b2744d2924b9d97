import { createHash } from 'node:crypto';
import { idToBytes, type Id } from '../../services/node/src/core/id';
import { pieceGuid } from '../../services/node/src/files/format';
import type { Files } from '../../services/node/src/files/files';
import { DetRing, seedFromEnv, type DetNode } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(240_000);

const NODES = 24;
const CHUNK = 16 * 1024;

/** Deterministic bytes that differ chunk to chunk. */
function fileBytes(size: number, tag: number): Buffer {
  const out = Buffer.alloc(size);
  let x = tag * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function ringOf(seed: number, options: ConstructorParameters<typeof DetRing>[1] = {}): Promise<DetRing> {
  const ring = new DetRing(seed, { antiEntropyIntervalMs: 3_600_000, links: { encode: false }, hashesPerPage: 8, ...options });
  for (const h of ring.create(NODES)) ring.start(h);
  expectClean(seed, 'leaf sets', await ring.converge(90_000));
  return ring;
}

async function* blocks(data: Buffer, block = 10_000): AsyncGenerator<{ chunkSize: number; data: Buffer }> {
  for (let i = 0; i < data.length; i += block) yield { chunkSize: i === 0 ? CHUNK : 0, data: data.subarray(i, i + block) };
  if (data.length === 0) yield { chunkSize: CHUNK, data: Buffer.alloc(0) };
}

async function upload(ring: DetRing, via: DetNode, data: Buffer): Promise<Id> {
  const r = await ring.net.settle(via.files.upload(blocks(data)), 120_000);
  if (!r.ok) throw r.error;
  return r.value.guid;
}

async function collect(files: Files, guid: Id, offset = 0, length = 0): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of files.download(guid, offset, length)) parts.push(piece.data);
  return Buffer.concat(parts);
}

async function download(ring: DetRing, via: DetNode, guid: Id, offset = 0, length = 0): Promise<Buffer> {
  const r = await ring.net.settle(collect(via.files, guid, offset, length), 120_000);
  if (!r.ok) throw r.error;
  return r.value;
}

describe('deterministic network: file sharing', () => {
  it('stores a file as verified chunks and pages and reads it, or any range of it, from any node', async () => {
    const seed = seedFromEnv(71);
    const ring = await ringOf(seed);
    const nodes = ring.live();
    // 40 chunks and a partial one: more hashes than a manifest holds (pages of 8).
    const data = fileBytes(40 * CHUNK + 1234, 1);
    const guid = await upload(ring, nodes[0]!, data);
    expect((await download(ring, nodes[7]!, guid)).equals(data)).toBe(true);
    expect((await download(ring, nodes[11]!, guid, CHUNK - 5, 3 * CHUNK)).equals(data.subarray(CHUNK - 5, 4 * CHUNK - 5))).toBe(true);
    expect((await download(ring, nodes[12]!, guid, data.length - 10)).equals(data.subarray(data.length - 10))).toBe(true);
    const stat = await ring.net.settle(nodes[3]!.files.stat(guid, 0, 100, true), 60_000);
    if (!stat.ok) throw stat.error;
    expect(stat.value.manifest.size).toBe(data.length);
    expect(stat.value.manifest.pages.length).toBe(6);
    expect(stat.value.chunks).toHaveLength(41);
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    stat.value.chunks.forEach((c, i) => {
      expect(Buffer.from(c.hash).toString('hex')).toBe(hash(data.subarray(i * CHUNK, (i + 1) * CHUNK)));
      // Each chunk's replicas are its true k closest nodes.
      expect(c.replicas.map((n) => Buffer.from(n.id).toString('hex'))).toEqual(ring.trueReplicas(Buffer.from(c.guid).toString('hex')).map((n) => n.handle.id));
    });
    // An empty file is a file too.
    const empty = await upload(ring, nodes[2]!, Buffer.alloc(0));
    expect((await download(ring, nodes[5]!, empty)).length).toBe(0);
    // Not a file: a plain object's GUID, and an unknown GUID.
    const plain = await ring.net.settle(nodes[1]!.parts.dht.put('', Buffer.from('just a value'), ring.net.now + 10_000), 20_000);
    if (!plain.ok) throw plain.error;
    await expect(download(ring, nodes[4]!, plain.value.guid)).rejects.toThrow(/not a file/);
    await expect(download(ring, nodes[4]!, '0123456789abcdef0123456789abcdef')).rejects.toThrow(/no file with GUID/);
  });

  it('never uses a corrupt copy: fetches the chunk elsewhere and rewrites the bad replica', async () => {
    const seed = seedFromEnv(72);
    // No caches: every reader goes to the replicas, in its own random order.
    const ring = await ringOf(seed, { fileCacheBytes: 0 });
    const nodes = ring.live();
    const data = fileBytes(12 * CHUNK, 2);
    const guid = await upload(ring, nodes[0]!, data);
    const stat = await ring.net.settle(nodes[0]!.files.stat(guid, 0, 12, false), 60_000);
    if (!stat.ok) throw stat.error;
    // Every replica of chunk 5 gets other bytes that are consistent with themselves (so the
    // store takes them for intact), except one: only the file's hashes can tell.
    const salt = stat.value.manifest.salt;
    const chunk5 = pieceGuid(salt, Buffer.from(stat.value.chunks[5]!.hash));
    const replicas = ring.trueReplicas(chunk5);
    for (const r of replicas.slice(0, 2)) {
      const object = (await r.store.get(chunk5))!;
      const value = Buffer.from(object.value);
      value[100] ^= 0xff;
      await r.store.put({ ...object, value, hash: createHash('sha256').update(value).digest('hex') });
    }
    const readers = nodes.filter((n) => !replicas.includes(n) && n !== nodes[0]).slice(0, 4);
    for (const reader of readers) expect((await download(ring, reader, guid)).equals(data)).toBe(true);
    await ring.net.runFor(10_000);
    expect(readers.reduce((sum, r) => sum + r.files.fetcher.stats.corrupt, 0)).toBeGreaterThan(0);
    expect(readers.reduce((sum, r) => sum + r.files.fetcher.stats.repaired, 0)).toBeGreaterThan(0);
    const good = data.subarray(5 * CHUNK, 6 * CHUNK);
    for (const r of replicas) expect((await r.store.get(chunk5))!.value.equals(good)).toBe(true);
  });

  it('completes a download while nodes holding its chunks crash', async () => {
    const seed = seedFromEnv(73);
    const ring = await ringOf(seed);
    const nodes = ring.live();
    const data = fileBytes(60 * CHUNK, 3);
    const guid = await upload(ring, nodes[0]!, data);
    const reader = nodes[9]!;
    const done = collect(reader.files, guid);
    // Crash two nodes, one after the other, while the download runs (never the reader).
    await ring.net.runFor(50);
    ring.crash(nodes[3]!.handle);
    await ring.net.runFor(300);
    ring.crash(nodes[17]!.handle);
    const r = await ring.net.settle(done, 180_000);
    if (!r.ok) throw r.error;
    expect(r.value.equals(data)).toBe(true);
  });

  it('spreads simultaneous downloads of one file over the nodes that already fetched its chunks', async () => {
    const seed = seedFromEnv(74);
    const ring = await ringOf(seed, { fileCacheBytes: 4 << 20 });
    const nodes = ring.live();
    const data = fileBytes(32 * CHUNK, 4);
    const guid = await upload(ring, nodes[0]!, data);
    const readers = nodes.slice(4, 20);
    const all = await ring.net.settle(Promise.all(readers.map((n) => collect(n.files, guid))), 180_000);
    if (!all.ok) throw all.error;
    for (const got of all.value) expect(got.equals(data)).toBe(true);
    let fromProviders = 0;
    let fromReplicas = 0;
    for (const n of readers) {
      const s = n.files.fetcher.stats;
      fromProviders += s.bytes.provider;
      fromReplicas += s.bytes.replica + s.bytes.routed + s.bytes.local;
    }
    // The chunks' replicas serve a minority of the bytes; the swarm the rest.
    expect(fromProviders).toBeGreaterThan(0);
    expect(fromReplicas / (fromProviders + fromReplicas)).toBeLessThan(0.5);
  });

  it('removes a file, chunks and pages and manifest, and leaves every other file whole', async () => {
    const seed = seedFromEnv(75);
    const ring = await ringOf(seed);
    const nodes = ring.live();
    const data = fileBytes(20 * CHUNK, 5);
    // The same bytes twice: two uploads, two files.
    const a = await upload(ring, nodes[0]!, data);
    const b = await upload(ring, nodes[1]!, data);
    expect(a).not.toBe(b);
    const stat = await ring.net.settle(nodes[2]!.files.stat(a, 0, 100, false), 60_000);
    if (!stat.ok) throw stat.error;
    const removed = await ring.net.settle(nodes[2]!.files.remove(a), 120_000);
    if (!removed.ok) throw removed.error;
    expect(removed.value).toEqual({ removed: true, chunksRemoved: 20 });
    await expect(download(ring, nodes[6]!, a)).rejects.toThrow(/no file with GUID/);
    for (const c of stat.value.chunks) {
      const read = await ring.net.settle(nodes[8]!.parts.dht.get({ guid: idToBytes(Buffer.from(c.guid).toString('hex')), name: '' }, ring.net.now + 10_000), 20_000);
      expect(read.ok).toBe(false);
    }
    expect((await download(ring, nodes[6]!, b)).equals(data)).toBe(true);
    const again = await ring.net.settle(nodes[2]!.files.remove(a), 60_000);
    expect(again.ok && again.value).toEqual({ removed: false, chunksRemoved: 0 });
  });

  it('an upload cut short leaves none of its chunks behind', async () => {
    const seed = seedFromEnv(76);
    const ring = await ringOf(seed);
    const nodes = ring.live();
    const live = (): number => ring.live().reduce((sum, n) => sum + n.store.usage().objects, 0);
    const before = live();
    async function* cut(): AsyncGenerator<{ chunkSize: number; data: Buffer }> {
      yield* blocks(fileBytes(6 * CHUNK + 100, 6));
      throw new Error('the client went away');
    }
    const r = await ring.net.settle(nodes[0]!.files.upload(cut()), 60_000);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(String(r.error)).toContain('the client went away');
    await ring.net.runFor(20_000);
    expect(live()).toBe(before);
  });
});

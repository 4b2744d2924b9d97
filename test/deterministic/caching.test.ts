import { guidForName } from '../../services/node/src/dht/guid';
import { DetRing, seedFromEnv } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(180_000);

const NODES = 24;

async function ringOf(seed: number, cacheLeaseMs: number): Promise<DetRing> {
  const ring = new DetRing(seed, { cacheLeaseMs, cacheBytes: 1 << 20, antiEntropyIntervalMs: 3_600_000, links: { encode: false } });
  for (const h of ring.create(NODES)) ring.start(h);
  expectClean(seed, 'leaf sets', await ring.converge(90_000));
  return ring;
}

/** Reads `name` from every node, `rounds` times over, all of a round at once; who answered, and what. */
async function readAll(ring: DetRing, name: string, rounds: number): Promise<{ answeredBy: string[]; values: string[]; failures: number }> {
  const answeredBy: string[] = [];
  const values: string[] = [];
  let failures = 0;
  for (let r = 0; r < rounds; r++) {
    const reads = ring.live().map((n) => n.parts.dht.get({ guid: Buffer.alloc(0), name }, ring.net.now + 10_000));
    const results = await ring.net.settle(Promise.allSettled(reads), 30_000);
    if (!results.ok) throw new Error('reads did not settle');
    for (const x of results.value) {
      if (x.status === 'rejected') {
        failures++;
        values.push(`error: ${(x.reason as Error).constructor.name}`);
        continue;
      }
      answeredBy.push(Buffer.from(x.value.response.root!.id).toString('hex'));
      values.push(x.value.response.value.toString());
    }
    await ring.net.runFor(100);
  }
  return { answeredBy, values, failures };
}

describe('deterministic network: hot keys cached along the route', () => {
  it('spreads the reads of one key off its root, and never serves a superseded or removed copy', async () => {
    const seed = seedFromEnv(41);
    const share = async (cacheLeaseMs: number): Promise<{ ring: DetRing; root: number }> => {
      const ring = await ringOf(seed, cacheLeaseMs);
      expect(await ring.put(ring.live()[0]!, 'hot', 'v1')).toBe(true);
      const root = ring.trueReplicas(guidForName('hot'))[0]!.handle.id;
      const { answeredBy, failures } = await readAll(ring, 'hot', 10);
      expect(failures).toBe(0);
      return { ring, root: answeredBy.filter((id) => id === root).length / answeredBy.length };
    };
    const before = await share(0);
    const after = await share(2_000);
    expect(before.root).toBeGreaterThan(0.3);
    expect(after.root).toBeLessThanOrEqual(0.3);
    expect(after.root).toBeLessThan(before.root);
    const ring = after.ring;
    expect(ring.live().some((n) => n.parts.dht.cache.size > 0)).toBe(true);

    // A newer version, acknowledged: from then on no node answers with the old one.
    expect(await ring.put(ring.live()[5]!, 'hot', 'v2')).toBe(true);
    const v2 = await readAll(ring, 'hot', 5);
    expect([...new Set(v2.values)]).toEqual(['v2']);
    // Removed: no node answers with any copy.
    expect(await ring.remove(ring.live()[7]!, 'hot')).toBe(true);
    const gone = await readAll(ring, 'hot', 3);
    expect([...new Set(gone.values)]).toEqual(['error: NotFoundError']);
    for (const n of ring.live()) expect(n.parts.dht.cache.size).toBe(0);
  });

  it('a cache holder that does not answer its invalidation delays the write by at most one lease', async () => {
    const seed = seedFromEnv(42);
    const ring = await ringOf(seed, 2_000);
    expect(await ring.put(ring.live()[0]!, 'warm', 'v1')).toBe(true);
    await readAll(ring, 'warm', 3);
    const guid = guidForName('warm');
    const replicas = new Set(ring.trueReplicas(guid).map((n) => n.handle.id));
    const holder = ring.live().find((n) => !replicas.has(n.handle.id) && n.parts.dht.cache.size > 0)!;
    expect(holder).toBeDefined();
    ring.net.partition([[holder.handle.address]]);
    const via = ring.live().find((n) => n !== holder && !replicas.has(n.handle.id))!;
    const t0 = ring.net.now;
    expect(await ring.put(via, 'warm', 'v2')).toBe(true);
    expect(ring.net.now - t0).toBeLessThan(2_000 + 1_000);
    // Its copy expired by the time the write was acknowledged: it cannot answer with it.
    expect(holder.parts.dht.cache.get(guid, ring.net.now)).toBeUndefined();
    ring.net.heal();
  });
});

describe('deterministic network: caching through a change of root', () => {
  it('the successor of a failed root waits out its leases: no old copy after the new write', async () => {
    const seed = seedFromEnv(43);
    const ring = await ringOf(seed, 2_000);
    expect(await ring.put(ring.live()[0]!, 'moved', 'v1')).toBe(true);
    await readAll(ring, 'moved', 2);
    const guid = guidForName('moved');
    const root = ring.trueRoot(guid);
    expect(root.parts.dht.leases.size).toBeGreaterThan(0);
    ring.crash(root.handle);
    const via = ring.live().find((n) => !ring.trueReplicas(guid).includes(n) && n.parts.dht.cache.size === 0) ?? ring.live()[1]!;
    expect(await ring.put(via, 'moved', 'v2')).toBe(true);
    const after = await readAll(ring, 'moved', 2);
    expect([...new Set(after.values)]).toEqual(['v2']);
  });
});

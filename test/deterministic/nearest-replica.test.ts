import { DetRing, planeDelays, seedFromEnv, type DetNode } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(300_000);

interface Reads {
  nearest: number;
  reads: number;
  wrong: string[];
}

/**
 * 80 nodes on a plane, k = 5: reads from random entry nodes, counted when the replica that
 * answered is the one nearest (by delay) to the entry node.
 */
async function readsOnPlane(seed: number, nearestReplicaReads: boolean): Promise<Reads> {
  const delay = planeDelays(seed);
  const ring = new DetRing(seed, { replicas: 5, writeQuorum: 3, nearestReplicaReads, links: { encode: false, delayMs: delay } });
  for (const h of ring.create(80)) ring.start(h);
  expectClean(seed, 'leaf sets after joins', await ring.converge(120_000));
  const names = Array.from({ length: 30 }, (_, i) => `object-${i}`);
  const live = ring.live();
  for (const [i, name] of names.entries()) expect(await ring.put(live[i % live.length]!, name, `value of ${name}`)).toBe(true);
  // Anti-entropy completes every replica set, and the tables get 10 refreshes.
  await ring.net.runFor(10 * 20_000);
  const out: Reads = { nearest: 0, reads: 0, wrong: [] };
  const rng = ring.net.rng;
  for (let i = 0; i < 240; i++) {
    const entry: DetNode = live[rng.int(live.length)]!;
    const name = names[rng.int(names.length)]!;
    const r = await ring.net.settle(entry.parts.dht.get({ guid: Buffer.alloc(0), name }, ring.net.now + 10_000), 20_000);
    if (!r.ok || r.value.response.value.toString() !== `value of ${name}`) {
      out.wrong.push(`${name} via ${entry.handle.name}: ${r.ok ? r.value.response.value.toString() : String(r.error)}`);
      continue;
    }
    const replicas = ring.trueReplicas(r.value.guid);
    const byDelay = [...replicas].sort((a, b) => delay(entry.handle.address, a.handle.address) - delay(entry.handle.address, b.handle.address));
    out.reads++;
    if (r.value.response.root.id.toString('hex') === byDelay[0]!.handle.id) out.nearest++;
  }
  return out;
}

describe('deterministic network: reads served by the nearest replica', () => {
  it("Pastry's heuristic sends a read to the replica nearest each hop: most reads are served by the replica nearest their client", async () => {
    const seed = seedFromEnv(802);
    const on = await readsOnPlane(seed, true);
    const off = await readsOnPlane(seed, false);
    process.stdout.write(`nearest of 5 replicas served ${on.nearest} of ${on.reads} reads with the heuristic, ${off.nearest} of ${off.reads} without\n`);
    expect(on.wrong).toEqual([]);
    expect(off.wrong).toEqual([]);
    expect(on.reads).toBe(240);
    expect(on.nearest / on.reads).toBeGreaterThanOrEqual(0.68);
    expect(on.nearest / on.reads).toBeGreaterThanOrEqual(off.nearest / off.reads + 0.15);
  });
});

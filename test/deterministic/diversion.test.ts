import { createHash } from 'node:crypto';
import { compareCloseness } from '../../services/node/src/core/id';
import { DIVERSION } from '../../services/node/src/constants';
import { guidForName } from '../../services/node/src/dht/guid';
import { DetRing, seedFromEnv, type DetNode } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(240_000);

const NODES = 8;
const CAPACITY = 40 * 1024;
const VALUE = 'v'.repeat(1024);

interface Fill {
  ring: DetRing;
  /** Live bytes over the ring's capacity when the first put failed. */
  atFirstFailure: number;
  /** Live bytes over the ring's capacity when puts failed more than 5% of the time (over the last 20). */
  atFivePercent: number;
  /**
   * Names put while k nodes outside their replica set had room for two more objects under
   * their diversion limit: diversion owes these k copies.
   */
  beforeFull: Set<string>;
  /** Puts acknowledged before the first one failed. */
  firstFailureAfter: number;
}

function utilisation(ring: DetRing): number {
  return ring.live().reduce((n, d) => n + d.store.usage().bytes, 0) / (NODES * CAPACITY);
}

/** Puts 1 KiB objects through every node in turn until 20 have failed. */
async function fill(seed: number, diversion: boolean): Promise<Fill> {
  const ring = new DetRing(seed, { capacityBytes: CAPACITY, antiEntropyIntervalMs: 3_600_000, links: { encode: false }, diversion });
  for (const h of ring.create(NODES)) ring.start(h);
  expectClean(seed, 'leaf sets', await ring.converge(60_000));
  let attempts = 0;
  let atFirstFailure = 0;
  let atFivePercent = 0;
  let firstFailureAfter = 0;
  const recent: boolean[] = [];
  const failures: string[] = [];
  const beforeFull = new Set<string>();
  while (attempts < 600 && failures.length < 20) {
    const via = ring.live()[attempts % NODES]!;
    const name = `fill-${attempts}`;
    const guid = guidForName(name);
    const outside = ring.live().filter((n) => !ring.trueReplicas(guid).includes(n));
    // One holder per copy: every replica may need its own.
    const room = outside.filter((n) => n.store.usage().bytes + 2 * VALUE.length <= CAPACITY * DIVERSION.maxUtilization).length >= ring.options.replicas;
    const r = await ring.net.settle(via.parts.dht.put(name, Buffer.from(VALUE), ring.net.now + 10_000), 20_000);
    attempts++;
    recent.push(r.ok);
    if (recent.length > 20) recent.shift();
    if (r.ok) {
      ring.acked.set(name, { name, guid: r.value.guid, value: VALUE, version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
      if (room) beforeFull.add(name);
      continue;
    }
    if (failures.length === 0) {
      atFirstFailure = utilisation(ring);
      firstFailureAfter = ring.acked.size;
    }
    failures.push((r.error as Error).constructor.name);
    if (atFivePercent === 0 && recent.filter((ok) => !ok).length > 1) atFivePercent = utilisation(ring);
  }
  expect(failures.length).toBe(20);
  // Full is the only reason a put fails here.
  expect([...new Set(failures)]).toEqual(['ResourceExhaustedError']);
  for (const n of ring.live()) expect(n.store.usage().bytes).toBeLessThanOrEqual(CAPACITY);
  return { ring, atFirstFailure, atFivePercent, beforeFull, firstFailureAfter };
}

/**
 * Objects short of k copies. Once no node outside its replica set has room, a put
 * acknowledged by a quorum may lack its last copy, but never a second one.
 */
async function shortOfK(f: Fill): Promise<string[]> {
  const problems = await f.ring.missingReplicas();
  const names = new Map<string, number>();
  for (const p of problems) {
    const name = p.split(' ')[0]!;
    names.set(name, (names.get(name) ?? 0) + 1);
  }
  return problems.filter((p) => {
    const name = p.split(' ')[0]!;
    return f.beforeFull.has(name) || names.get(name)! > f.ring.options.replicas - f.ring.options.writeQuorum;
  });
}

async function pointers(nodes: DetNode[]): Promise<number> {
  let n = 0;
  for (const d of nodes) n += (await d.store.diverted(undefined, 100_000)).length;
  return n;
}

async function rounds(ring: DetRing, count: number, advanceMs = 0): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (const n of ring.live()) expect((await ring.net.settle(n.parts.antiEntropy.round(), 120_000)).ok).toBe(true);
    if (advanceMs > 0) await ring.net.runUntil(ring.net.now + advanceMs);
  }
}

describe('deterministic network: replica diversion', () => {
  it('full replicas divert copies to neighbours: the ring fills far further, every acknowledged object reads back and keeps k copies', async () => {
    const seed = seedFromEnv(36);
    const without = await fill(seed, false);
    const withDiversion = await fill(seed, true);
    const { ring } = withDiversion;
    console.log(
      `diversion (seed ${seed}): utilisation at the first failed put ${(without.atFirstFailure * 100).toFixed(1)}% without, ${(withDiversion.atFirstFailure * 100).toFixed(1)}% with; ` +
        `at 5% failures ${(without.atFivePercent * 100).toFixed(1)}% without, ${(withDiversion.atFivePercent * 100).toFixed(1)}% with; ` +
        `acknowledged before the first failure ${without.firstFailureAfter} vs ${withDiversion.firstFailureAfter}; copies missing ${(await without.ring.missingReplicas()).length} vs ${(await ring.missingReplicas()).length}`,
    );
    // PAST: diversion lets a ring fill to well over 90% before inserts fail in earnest.
    expect(withDiversion.atFirstFailure).toBeGreaterThan(0.9);
    expect(withDiversion.atFirstFailure).toBeGreaterThan(without.atFirstFailure);
    expect(withDiversion.atFivePercent).toBeGreaterThan(without.atFivePercent);
    // A ring no larger than a leaf set has no "elsewhere": file diversion never starts there.
    for (const r of [without.ring, ring]) expect(r.live().reduce((n, d) => n + d.parts.dht.stats.fileDiverted, 0)).toBe(0);
    const diverted = ring.live().reduce((n, d) => n + d.parts.diversion!.stats.diverted, 0);
    expect(diverted).toBeGreaterThan(0);
    expect(await pointers(ring.live())).toBeGreaterThan(0);
    // A pointer stands for a copy its holder really has: k copies of everything acknowledged.
    expectClean(seed, 'objects short of k replicas', await shortOfK(withDiversion));
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());
    expectClean(seed, 'acknowledged reads lost (without diversion)', await without.ring.lostReads());
    // Anti-entropy finds the pointers in sync with the copies they stand for.
    await rounds(ring, 2);
    expectClean(seed, 'objects short of k replicas after anti-entropy', await shortOfK(withDiversion));
  });

  /** Fills the ring, then removes objects no pointer stands for until every node has room. */
  async function fillThenFree(seed: number): Promise<{ ring: DetRing; held: Map<string, number> }> {
    const { ring } = await fill(seed, true);
    const held = new Map<string, number>();
    const pointedGuids = new Set<string>();
    for (const d of ring.live()) {
      for (const p of await d.store.diverted(undefined, 100_000)) {
        held.set(p.divertedTo!, (held.get(p.divertedTo!) ?? 0) + 1);
        pointedGuids.add(p.guid);
      }
    }
    expect(pointedGuids.size).toBeGreaterThan(0);
    for (const a of [...ring.acked.values()].filter((x) => !pointedGuids.has(x.guid))) {
      if (ring.live().every((d) => d.store.usage().bytes <= CAPACITY * 0.6)) break;
      expect(await ring.remove(ring.live()[0]!, a.name)).toBe(true);
    }
    for (const d of ring.live()) expect(d.store.usage().bytes).toBeLessThanOrEqual(CAPACITY * 0.6);
    return { ring, held };
  }

  /** No pointer left on a node with room for its copy; no copy outside a node's ranges that no replica points to. */
  async function leftOver(ring: DetRing): Promise<string[]> {
    const stuck: string[] = [];
    for (const d of ring.live()) {
      for (const p of await d.store.diverted(undefined, 100_000)) if (d.parts.local.hasRoom(p.size, DIVERSION.reclaimUtilization)) stuck.push(`${d.handle.name} points to ${p.divertedTo} for ${p.guid} with room for it`);
      const all = await d.store.range('0'.repeat(32), 'f'.repeat(32), 100_000, { values: false });
      for (const o of all.filter((x) => !x.divertedTo && !ring.trueReplicas(x.guid).includes(d))) {
        const pointedAt = await Promise.all(ring.trueReplicas(o.guid).map(async (r) => (await r.store.get(o.guid))?.divertedTo === d.handle.id));
        if (!pointedAt.includes(true)) stuck.push(`${d.handle.name} keeps ${o.guid} outside its ranges, pointed at by no replica`);
      }
    }
    return stuck;
  }

  it('a node with room again takes its copies back, and the holders drop theirs', async () => {
    const seed = seedFromEnv(37);
    const { ring } = await fillThenFree(seed);
    // The copies come back (taken back by the pointer's node, or handed to it by the holder),
    // then the holders' rechecks let them drop what no replica points to.
    await rounds(ring, 3, DIVERSION.recheckMs + 1000);
    expect(await pointers(ring.live())).toBe(0);
    expectClean(seed, 'pointers and diverted copies left over', await leftOver(ring));
    for (const n of ring.live()) expect(n.parts.antiEntropy.stats.underReplicated).toBe(0);
    expectClean(seed, 'objects short of k replicas', await ring.missingReplicas());
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());
  });

  it('a holder that dies is replaced: its copies come from the other replicas', async () => {
    const seed = seedFromEnv(38);
    const { ring, held } = await fillThenFree(seed);
    const [victimId] = [...held.entries()].sort((a, b) => b[1] - a[1])[0]!;
    ring.crash(ring.live().find((d) => d.handle.id === victimId)!.handle);
    expectClean(seed, 'leaf sets after the crash', await ring.converge(60_000));
    await rounds(ring, 3, 1000);
    const left: string[] = [];
    for (const d of ring.live()) for (const p of await d.store.diverted(undefined, 100_000)) if (p.divertedTo === victimId) left.push(`${d.handle.name} points to the dead holder for ${p.guid}`);
    expectClean(seed, 'pointers to the dead holder', left);
    expect(ring.live().reduce((n, d) => n + d.parts.diversion!.stats.restored, 0)).toBeGreaterThan(0);
    expectClean(seed, 'objects short of k replicas after the holder died', await ring.missingReplicas());
    expectClean(seed, 'acknowledged reads lost after the holder died', await ring.lostReads());
    await rounds(ring, 3, DIVERSION.recheckMs + 1000);
    expectClean(seed, 'pointers and diverted copies left over', await leftOver(ring));
    for (const n of ring.live()) expect(n.parts.antiEntropy.stats.underReplicated).toBe(0);
  });

  /** Fills `node`'s store with local objects of 1 KiB up to `share` of the capacity. */
  async function fillNode(node: DetNode, share: number): Promise<void> {
    for (let i = 0; node.store.usage().bytes + VALUE.length <= CAPACITY * share; i++) {
      const value = Buffer.from(VALUE);
      const guid = createHash('md5').update(`filler-${node.handle.id}-${i}`).digest('hex');
      const object = { guid, value, version: 1, writer: node.handle.id, hash: createHash('sha256').update(value).digest('hex'), size: value.length, createdAt: 0, tombstone: false, contentAddressed: false };
      expect((await node.parts.local.apply(object)).result).toBe('applied');
    }
  }

  it('a full replica diverts to the least utilised neighbour, not the nearest (PAST)', async () => {
    const seed = seedFromEnv(39);
    // Three rings, each a fresh set of ids: one full replica each.
    for (let i = 0; i < 3; i++) {
      const ring = new DetRing(seed + i, { capacityBytes: CAPACITY, antiEntropyIntervalMs: 3_600_000, links: { encode: false }, diversion: true });
      for (const h of ring.create(NODES)) ring.start(h);
      expectClean(seed + i, 'leaf sets', await ring.converge(60_000));
      const name = `least-utilised-${i}`;
      const guid = guidForName(name);
      const replicas = ring.trueReplicas(guid);
      // A replica other than the root is full: the root writes, that replica must divert.
      const full = replicas[1]!;
      const outside = ring.live().filter((n) => !replicas.includes(n)).sort((a, b) => compareCloseness(full.handle.id, a.handle.id, b.handle.id));
      // Its nearest eligible neighbour has room but is the fullest; one in the middle is
      // empty; the rest are half full, and one of those is silent (crashed, not yet noticed).
      expect(outside.length).toBeGreaterThanOrEqual(4);
      const nearest = outside[0]!;
      const emptiest = outside[1 + (i % (outside.length - 2))]!;
      const silent = outside.find((n) => n !== nearest && n !== emptiest)!;
      await fillNode(full, 1);
      await fillNode(nearest, 0.8);
      for (const n of outside) if (n !== nearest && n !== emptiest) await fillNode(n, 0.5);
      expect(nearest.parts.local.utilization()).toBeLessThan(DIVERSION.maxUtilization);
      expect(emptiest.parts.local.utilization()).toBe(0);
      ring.crash(silent.handle);
      const r = await ring.net.settle(replicas[0]!.parts.dht.put(name, Buffer.from(VALUE), ring.net.now + 10_000), 20_000);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      ring.acked.set(name, { name, guid: r.value.guid, value: VALUE, version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
      // The put returns at its quorum: let the full replica's diversion finish.
      await ring.net.runUntil(ring.net.now + 5_000);
      expect((await full.store.get(guid))?.divertedTo).toBe(emptiest.handle.id);
      expect((await emptiest.store.get(guid))?.value.toString()).toBe(VALUE);
      expectClean(seed + i, 'objects short of k replicas', await ring.missingReplicas());
      expectClean(seed + i, 'acknowledged reads lost', await ring.lostReads());
    }
  });
});

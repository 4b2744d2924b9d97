import { createHash } from 'node:crypto';
import { guidForName } from '../../services/node/src/dht/guid';
import { DHT_APP, DHT_METHODS } from '../../services/node/src/dht/peer-messages';
import { DhtDirect } from '../../services/node/src/gen/pastry/v1/dht_peer';
import type { DirectRequest } from '../../services/node/src/gen/pastry/v1/peer';
import type { StoredObject } from '../../services/node/src/store/store';
import { DetRing, seedFromEnv } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(180_000);

/** Objects far beyond one store page (the page is 100 objects here, 10,000 in the node). */
const OBJECTS = 1500;
const PAGE = 100;

/**
 * Loads objects straight onto their k true replicas, as a bulk load would, and records them
 * as acknowledged: everything below must keep every one of them on k live replicas.
 */
async function load(ring: DetRing, count: number, first = 0): Promise<void> {
  const writer = ring.handles[0]!.id;
  for (let i = first; i < first + count; i++) {
    const name = `bulk-${i}`;
    const value = Buffer.from(`value-${i}`);
    const object: StoredObject = {
      guid: guidForName(name),
      value,
      version: 1,
      writer,
      hash: createHash('sha256').update(value).digest('hex'),
      size: value.length,
      createdAt: ring.net.now,
      tombstone: false,
      contentAddressed: false,
    };
    for (const r of ring.trueReplicas(object.guid)) await r.parts.local.apply(object);
    ring.acked.set(name, { name, guid: object.guid, value: value.toString(), version: 1, writer: object.writer, removed: false });
  }
}

async function ringOf(seed: number, antiEntropyIntervalMs: number): Promise<DetRing> {
  // Ranges of over 50 objects are split: the hash-tree descent runs at this small scale.
  const ring = new DetRing(seed, { scanPageObjects: PAGE, entrySyncObjects: 50, antiEntropyIntervalMs, links: { encode: false } });
  for (const h of ring.create(8)) ring.start(h);
  expectClean(seed, 'leaf sets', await ring.converge(60_000));
  await load(ring, OBJECTS);
  return ring;
}

describe('deterministic network: stores many pages long', () => {
  it('anti-entropy refills a node restarted with an empty store, every page of it', async () => {
    const seed = seedFromEnv(31);
    const ring = await ringOf(seed, 2_000);
    const victim = ring.live()[3]!;
    const held = await victim.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    ring.crash(victim.handle);
    const restarted = ring.start(victim.handle);
    expect(await restarted.store.count()).toBe(0);
    let missing: string[] = ['not checked'];
    for (let t = 0; t < 120 && missing.length > 0; t++) {
      await ring.net.runFor(1_000);
      missing = await ring.missingReplicas();
    }
    expectClean(seed, 'objects short of k replicas', missing);
    expect(await restarted.store.count()).toBe(held);
  });

  it('a graceful leave hands off every object, however many pages it holds', async () => {
    const seed = seedFromEnv(32);
    // Anti-entropy all but off: whatever reaches the new replicas is the handoff's doing.
    const ring = await ringOf(seed, 3_600_000);
    const leaver = ring.live()[2]!;
    const held = await leaver.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    await leaver.parts.antiEntropy.stop();
    // Each object goes to the one node that takes this node's place among its replicas, not
    // again to the replicas that hold it.
    let sent = 0;
    const push = leaver.parts.replication.push.bind(leaver.parts.replication);
    const pushes = jest.spyOn(leaver.parts.replication, 'push').mockImplementation(async (peer, objects, ...rest) => {
      sent += objects.length;
      return push(peer, objects, ...rest);
    });
    const r = await ring.net.settle(leaver.parts.antiEntropy.handOffAll(ring.net.now + 60_000), 90_000);
    pushes.mockRestore();
    expect(r).toEqual({ ok: true, value: { handedOff: held, failed: 0 } });
    expect(sent).toBe(held);
    await ring.net.settle(leaver.overlay.announceLeave(), 10_000);
    ring.crash(leaver.handle);
    expectClean(seed, 'objects short of k replicas after the leave', await ring.missingReplicas());
  });

  it("a graceful leave is not undone by the receivers' anti-entropy while it runs", async () => {
    const seed = seedFromEnv(38);
    // Rounds every second on every other node, and a leave that lasts many rounds.
    const ring = await ringOf(seed, 1_000);
    const leaver = ring.live()[2]!;
    const others = ring.live().filter((n) => n !== leaver);
    const held = await leaver.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    await leaver.parts.antiEntropy.stop();
    const env = ring.net.env(leaver.handle.address);
    const push = leaver.parts.replication.push.bind(leaver.parts.replication);
    let pushes = 0;
    const slow = jest.spyOn(leaver.parts.replication, 'push').mockImplementation(async (...args) => {
      pushes++;
      await new Promise<void>((resolve) => env.setTimer(700, resolve));
      return push(...args);
    });
    const rounds = others.map((n) => n.parts.antiEntropy.stats.rounds);
    const handedOff = others.map((n) => n.parts.antiEntropy.stats.handedOff);
    const repaired = others.map((n) => n.parts.antiEntropy.stats.repaired);
    const started = ring.net.now;
    const r = await ring.net.settle(leaver.parts.antiEntropy.handOffAll(ring.net.now + 120_000), 150_000);
    slow.mockRestore();
    expect(r).toEqual({ ok: true, value: { handedOff: held, failed: 0 } });
    // The leave outlasted several rounds of every receiver.
    expect(ring.net.now - started).toBeGreaterThan(3_000);
    expect(pushes).toBeGreaterThan(4);
    others.forEach((n, i) => expect(n.parts.antiEntropy.stats.rounds - rounds[i]!).toBeGreaterThanOrEqual(3));
    // A receiver keeps what the leaver hands it: it neither hands it back to the leaver's
    // replica set nor drops it.
    expect(others.map((n, i) => n.parts.antiEntropy.stats.handedOff - handedOff[i]!)).toEqual(others.map(() => 0));
    // Nor do the rounds copy between the other replicas what the leave is bringing anyway.
    expect(others.map((n, i) => n.parts.antiEntropy.stats.repaired - repaired[i]!)).toEqual(others.map(() => 0));
    await ring.net.settle(leaver.overlay.announceLeave(), 10_000);
    ring.crash(leaver.handle);
    // Counted at once, before any round could repair what the leave left short.
    expectClean(seed, 'objects short of k replicas after the leave', await ring.missingReplicas());
  });

  it('a handoff holds at most a window of value bytes read and not yet delivered', async () => {
    const seed = seedFromEnv(37);
    const WINDOW = 200;
    const ring = new DetRing(seed, { scanPageObjects: PAGE, entrySyncObjects: 50, antiEntropyIntervalMs: 3_600_000, pushWindowBytes: WINDOW, links: { encode: false } });
    for (const h of ring.create(8)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(60_000));
    await load(ring, OBJECTS);
    const leaver = ring.live()[2]!;
    const held = await leaver.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    await leaver.parts.antiEntropy.stop();
    // Bytes of values read and not yet delivered (sent and answered): at most a window. The
    // next values are read while the last ones are sent, so this counts both.
    let unsent = 0;
    let peak = 0;
    const done = new Set<string>();
    const read = leaver.parts.local.read.bind(leaver.parts.local);
    const reads = jest.spyOn(leaver.parts.local, 'read').mockImplementation(async (guid) => {
      const r = await read(guid);
      unsent += r.object?.size ?? 0;
      peak = Math.max(peak, unsent);
      return r;
    });
    const push = leaver.parts.replication.push.bind(leaver.parts.replication);
    const pushes = jest.spyOn(leaver.parts.replication, 'push').mockImplementation(async (peer, objects, ...rest) => {
      try {
        return await push(peer, objects, ...rest);
      } finally {
        for (const o of objects) if (!done.has(o.guid)) (done.add(o.guid), (unsent -= o.size));
      }
    });
    const r = await ring.net.settle(leaver.parts.antiEntropy.handOffAll(ring.net.now + 60_000), 90_000);
    reads.mockRestore();
    pushes.mockRestore();
    expect(r).toEqual({ ok: true, value: { handedOff: held, failed: 0 } });
    const largest = 'value-1499'.length;
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(WINDOW);
    // Without the window a whole page (100 objects, ~1 KB here) is read before the first send.
    expect(PAGE * largest).toBeGreaterThan(2 * WINDOW);
    await ring.net.settle(leaver.overlay.announceLeave(), 10_000);
    ring.crash(leaver.handle);
    expectClean(seed, 'objects short of k replicas after the leave', await ring.missingReplicas());
  });

  // Each way alone: the restarted node pulling from its peers, or its peers pushing to it.
  it.each([
    ['pulls', 38],
    ['pushes', 39],
  ] as const)('the refill of a node restarted empty by %s holds at most a window of values on each side and moves each object about once', async (way, defaultSeed) => {
    const seed = seedFromEnv(defaultSeed);
    const WINDOW = 200;
    // A round repairs 60 objects per peer: the refill takes rounds, as a large one does.
    const ring = new DetRing(seed, { scanPageObjects: PAGE, entrySyncObjects: 50, antiEntropyIntervalMs: 2_000, pushWindowBytes: WINDOW, repairsPerPeerPerRound: 60, links: { encode: false } });
    for (const h of ring.create(8)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(60_000));
    await load(ring, OBJECTS);
    const victim = ring.live()[3]!;
    const held = await victim.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    ring.crash(victim.handle);
    const restarted = ring.start(victim.handle);
    for (const n of ring.live()) if ((way === 'pulls') !== (n === restarted)) await ring.net.settle(n.parts.antiEntropy.stop(), 60_000);
    // Bytes of values the repairing nodes have read or fetched and not yet delivered or
    // written: the peers read what they push, the restarted node fetches what it pulls.
    const peaks = new Map<string, number>();
    const spies: jest.SpyInstance[] = [];
    for (const n of ring.live().filter((n) => (way === 'pulls') === (n === restarted))) {
      let unsent = 0;
      const bump = (bytes: number): void => {
        unsent += bytes;
        peaks.set(n.handle.name, Math.max(peaks.get(n.handle.name) ?? 0, unsent));
      };
      const read = n.parts.local.read.bind(n.parts.local);
      spies.push(
        jest.spyOn(n.parts.local, 'read').mockImplementation(async (guid, ...rest) => {
          const r = await read(guid, ...rest);
          bump(r.object?.size ?? 0);
          return r;
        }),
      );
      const push = n.parts.replication.push.bind(n.parts.replication);
      spies.push(
        jest.spyOn(n.parts.replication, 'push').mockImplementation(async (peer, objects, ...rest) => {
          try {
            return await push(peer, objects, ...rest);
          } finally {
            bump(-objects.reduce((a, o) => a + o.size, 0));
          }
        }),
      );
      const fetch = n.parts.replication.fetch.bind(n.parts.replication);
      spies.push(
        jest.spyOn(n.parts.replication, 'fetch').mockImplementation(async (...args) => {
          const objects = await fetch(...args);
          bump(objects.reduce((a, o) => a + o.size, 0));
          return objects;
        }),
      );
      const apply = n.parts.local.apply.bind(n.parts.local);
      spies.push(
        jest.spyOn(n.parts.local, 'apply').mockImplementation(async (object, ...rest) => {
          try {
            return await apply(object, ...rest);
          } finally {
            bump(-object.size);
          }
        }),
      );
    }
    // Objects sent to the restarted node (pushed to it, or asked for by it).
    let moved = 0;
    ring.net.tap = (from, to, method, request) => {
      if (method !== 'direct' || (request as DirectRequest).app !== DHT_APP) return;
      const m = DhtDirect.decode((request as DirectRequest).payload);
      if (to.address === restarted.handle.address && m.storeReplicas) moved += m.storeReplicas.objects.length;
      if (from === restarted.handle.address && m.fetchReplicas && !m.fetchReplicas.metaOnly) moved += m.fetchReplicas.guids.length;
    };
    let missing: string[] = ['not checked'];
    try {
      for (let t = 0; t < 120 && missing.length > 0; t++) {
        await ring.net.runFor(1_000);
        missing = await ring.missingReplicas();
      }
    } finally {
      ring.net.tap = undefined;
      for (const s of spies) s.mockRestore();
    }
    expectClean(seed, 'objects short of k replicas', missing);
    expect(await restarted.store.count()).toBe(held);
    process.stdout.write(`refill by ${way} (seed ${seed}): ${held} objects, ${moved} sent to the restarted node; peak unsent bytes ${JSON.stringify(Object.fromEntries(peaks))}\n`);
    // Without windows a pull fetches a whole leaf range (up to 50 objects, ~500 bytes here)
    // before it writes any, and a push reads one.
    for (const [name, peak] of peaks) expect([name, peak <= WINDOW]).toEqual([name, true]);
    const busy = [...peaks].filter(([, peak]) => peak > 0).map(([name]) => name);
    if (way === 'pulls') expect(busy).toEqual([restarted.handle.name]);
    else expect(busy.length).toBeGreaterThan(1);
    // Several replicas of the same ranges repairing at once send each object about once:
    // one peer's pulls are not asked of the others, and each pair's rounds start at a
    // different place in the ranges that differ.
    expect(moved).toBeLessThanOrEqual(Math.ceil(held * 1.2));
  });

  it('a graceful leave out of time stops reading the store and counts the rest as not handed off', async () => {
    const seed = seedFromEnv(36);
    const ring = await ringOf(seed, 3_600_000);
    const leaver = ring.live()[2]!;
    const held = await leaver.store.count();
    expect(held).toBeGreaterThan(3 * PAGE);
    await leaver.parts.antiEntropy.stop();
    const reads = jest.spyOn(leaver.store, 'range');
    // The deadline has passed: nothing can be sent, and the leave must not take a page of
    // reads per page held (a node of millions of objects would outlast its grace period).
    const r = await ring.net.settle(leaver.parts.antiEntropy.handOffAll(ring.net.now), 10_000);
    expect(r).toEqual({ ok: true, value: { handedOff: 0, failed: held } });
    expect(reads.mock.calls.length).toBeLessThanOrEqual(1);
    reads.mockRestore();
  });

  it('counts the objects of a replica that does not answer as under-replicated', async () => {
    const seed = seedFromEnv(33);
    const ring = await ringOf(seed, 3_600_000);
    const node = ring.live()[0]!;
    // Its clockwise neighbour shares replicas with it.
    const neighbour = node.overlay.state.leafSet.rightSide()[0]!;
    const cut = ring.live().find((n) => n.handle.id === neighbour.id);
    const round = (): Promise<unknown> => ring.net.settle(node!.parts.antiEntropy.round(), 30_000);
    await round();
    expect(node!.parts.antiEntropy.stats.underReplicated).toBe(0);
    const shared = (await node!.store.range('0'.repeat(32), 'f'.repeat(32), OBJECTS)).filter((o) => ring.trueReplicas(o.guid).includes(cut!)).length;
    expect(shared).toBeGreaterThan(PAGE);
    ring.net.partition([[cut!.handle.address]]);
    await round();
    // Each object `node` shares with the silent peer is short of a confirmed copy: while the
    // peer is only silent, for want of an answer; once it is found dead, the replica that
    // takes its place lacks it.
    expect(node!.parts.antiEntropy.stats.underReplicated).toBeGreaterThanOrEqual(shared);
    ring.net.heal();
  });

  it('an idle round is one hash-tree message per peer whatever the store holds; a repair costs what differs', async () => {
    const seed = seedFromEnv(34);
    const ring = await ringOf(seed, 3_600_000);
    const node = ring.live()[0]!;
    const round = async (): Promise<Record<string, number>> => {
      const sent: Record<string, number> = {};
      ring.net.tap = (from, _to, method, request) => {
        if (from !== node.handle.address || method !== 'direct' || (request as DirectRequest).app !== DHT_APP) return;
        const m = DhtDirect.decode((request as DirectRequest).payload);
        for (const k of DHT_METHODS) if (m[k] !== undefined) sent[k] = (sent[k] ?? 0) + 1;
      };
      try {
        expect((await ring.net.settle(node.parts.antiEntropy.round(), 60_000)).ok).toBe(true);
      } finally {
        ring.net.tap = undefined;
      }
      return sent;
    };
    await round();
    const idle = await round();
    // k = 3: two peers on each side share replicas with this node.
    expect(idle).toEqual({ syncTree: 4 });
    expect(node.parts.antiEntropy.stats.underReplicated).toBe(0);
    // Four times the objects: the idle round stays the same.
    await load(ring, 3 * OBJECTS, OBJECTS);
    await round();
    expect(await round()).toEqual({ syncTree: 4 });
    // A peer loses a few objects it shares with this node: the round finds and restores
    // exactly those, with messages in proportion to the loss, not to the store.
    const neighbour = node.overlay.state.leafSet.rightSide()[0]!;
    const peer = ring.live().find((n) => n.handle.id === neighbour.id)!;
    const shared = (await peer.store.range('0'.repeat(32), 'f'.repeat(32), 10 * OBJECTS)).filter((o) => ring.trueReplicas(o.guid).includes(node));
    expect(shared.length).toBeGreaterThan(500);
    const lost = [shared[3]!, shared[Math.floor(shared.length / 2)]!, shared[shared.length - 2]!];
    for (const o of lost) await peer.store.delete(o.guid);
    const repair = await round();
    expect(repair.storeReplicas).toBeGreaterThanOrEqual(1);
    expect(repair.syncDigest).toBeLessThanOrEqual(lost.length);
    // The roots, then one message per tree level down to that peer's differing leaves.
    expect(repair.syncTree).toBeGreaterThan(4);
    expect(repair.syncTree).toBeLessThanOrEqual(4 + 3);
    for (const o of lost) expect((await peer.store.get(o.guid))?.version).toBe(o.version);
    expectClean(seed, 'objects short of k replicas', await ring.missingReplicas());
  });

  it('a steady write load does not send rounds scanning entry by entry after writes in flight', async () => {
    const seed = seedFromEnv(35);
    const ring = await ringOf(seed, 3_600_000);
    const node = ring.live()[0]!;
    const sent: Record<string, number> = {};
    const round = async (): Promise<void> => {
      expect((await ring.net.settle(node.parts.antiEntropy.round(), 60_000)).ok).toBe(true);
    };
    await round();
    // Puts through every node, four at a time, while this node runs rounds.
    let writing = true;
    let acked = 0;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; writing; i++) {
        const via = ring.live()[(i + w) % ring.live().length]!;
        const value = `steady-${w}-${i}`;
        const r = await via.parts.dht.put(value, Buffer.from(value), ring.net.now + 10_000);
        ring.acked.set(value, { name: value, guid: r.guid, value, version: r.response.version, writer: r.response.root.id.toString('hex'), removed: false });
        acked++;
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    const repaired = node.parts.antiEntropy.stats.repaired;
    ring.net.tap = (from, _to, method, request) => {
      if (from !== node.handle.address || method !== 'direct' || (request as DirectRequest).app !== DHT_APP) return;
      const m = DhtDirect.decode((request as DirectRequest).payload);
      for (const k of DHT_METHODS) if (m[k] !== undefined) sent[k] = (sent[k] ?? 0) + 1;
    };
    try {
      for (let i = 0; i < 10; i++) {
        await round();
        await ring.net.runFor(200);
      }
    } finally {
      ring.net.tap = undefined;
      writing = false;
    }
    expect((await ring.net.settle(writers, 60_000)).ok).toBe(true);
    process.stdout.write(`steady writes (seed ${seed}): ${acked} puts during 10 rounds; the rounds sent ${JSON.stringify(sent)}\n`);
    expect(acked).toBeGreaterThan(200);
    // A write reaches its replicas within a round: nothing for anti-entropy to read entry by
    // entry, let alone to repair. A few ranges may still take a write between two looks.
    expect(sent.syncDigest ?? 0).toBeLessThanOrEqual(acked / 100);
    expect(node.parts.antiEntropy.stats.repaired).toBe(repaired);
    await round();
    expectClean(seed, 'objects short of k replicas', await ring.missingReplicas());
  });
});

describe('deterministic network: nodes with a capacity', () => {
  it('without diversion, a full replica set refuses new objects with RESOURCE_EXHAUSTED, loses nothing acknowledged, and a leave onto full nodes counts what they refused as not handed off', async () => {
    const seed = seedFromEnv(35);
    const ring = new DetRing(seed, { capacityBytes: 40 * 1024, antiEntropyIntervalMs: 3_600_000, links: { encode: false }, diversion: false });
    for (const h of ring.create(8)) ring.start(h);
    expectClean(seed, 'leaf sets', await ring.converge(60_000));
    const value = 'v'.repeat(1024);
    const capacity = 8 * 40 * 1024;
    let attempts = 0;
    let failed = 0;
    let utilisationAtFirstFailure = 0;
    const errors = new Set<string>();
    while (attempts < 400 && failed < 20) {
      const via = ring.live()[attempts % 8]!;
      const r = await ring.net.settle(via.parts.dht.put(`full-${attempts}`, Buffer.from(value), ring.net.now + 10_000), 20_000);
      attempts++;
      if (r.ok) {
        ring.acked.set(`full-${attempts - 1}`, { name: `full-${attempts - 1}`, guid: r.value.guid, value, version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
        continue;
      }
      if (failed === 0) utilisationAtFirstFailure = ring.live().reduce((n, d) => n + d.store.usage().bytes, 0) / capacity;
      failed++;
      errors.add((r.error as Error).constructor.name);
    }
    expect(failed).toBe(20);
    // Each object on k = 3 nodes of 40 objects each: nothing fits past 8 * 40 / 3.
    expect(ring.acked.size).toBeLessThanOrEqual(Math.floor((8 * 40) / 3));
    expect([...errors]).toEqual(['ResourceExhaustedError']);
    // Consistent hashing fills the most loaded replica sets first, well before the ring.
    expect(utilisationAtFirstFailure).toBeGreaterThan(0.3);
    for (const n of ring.live()) expect(n.store.usage().bytes).toBeLessThanOrEqual(40 * 1024);
    expectClean(seed, 'acknowledged reads lost', await ring.lostReads());
    // A graceful leave onto full nodes: what they refuse is not counted as delivered.
    const leaver = ring.live()[4]!;
    const held = await leaver.store.count();
    const r = await ring.net.settle(leaver.parts.antiEntropy.handOffAll(ring.net.now + 60_000), 90_000);
    expect(r.ok).toBe(true);
    const { handedOff, failed: kept } = (r as { ok: true; value: { handedOff: number; failed: number } }).value;
    expect(handedOff + kept).toBe(held);
    expect(kept).toBeGreaterThan(0);
    expect(await leaver.store.count()).toBe(held);
  });
});

import { randomBytes } from 'node:crypto';
import { PastryClient } from '../../services/cli/src/client';
import { isRunning, signalPod, startPod, waitForExit, waitForRing } from '../../services/cli/src/cluster';
import { startRing, type TestRing } from '../helpers/local-ring';
import { eventually, holders, misplaced } from '../helpers/replicas';

jest.setTimeout(300_000);

const K = 3;

/** Runs `fn` over items with at most `width` in flight. */
async function inParallel<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

describe('replicated storage on a 16-node ring with Redis sidecars', () => {
  let ring: TestRing;
  const objects = new Map<string, Buffer>();
  const live = () => ring.state().pods.filter((p) => isRunning(p.pid));
  const clients = () => live().map((p) => new PastryClient(p.address, 15_000));

  async function readAll(guids: string[]): Promise<string[]> {
    const cs = clients();
    try {
      const wrong = await inParallel(guids, 32, async (g, i) => {
        try {
          const res = await cs[i % cs.length]!.get(g);
          return res.value.equals(objects.get(g)!) ? '' : g;
        } catch {
          return g;
        }
      });
      return wrong.filter((g) => g !== '');
    } finally {
      cs.forEach((c) => c.close());
    }
  }

  beforeAll(async () => {
    ring = await startRing(16, '127.0.18', { PASTRY_STORE: 'redis', PASTRY_ANTIENTROPY_INTERVAL_MS: '1000' }, 90_000);
  });

  afterAll(async () => {
    await ring?.down();
  });

  it('puts 2,000 objects, each on exactly its 3 numerically closest nodes', async () => {
    const cs = clients();
    try {
      const items = Array.from({ length: 2000 }, (_, i) => i);
      const results = await inParallel(items, 32, async (i) => {
        const value = i % 2 === 0 ? Buffer.from(`named value ${i}`) : randomBytes(64 + (i % 200));
        const res = await cs[i % cs.length]!.put(i % 2 === 0 ? `object-${i}` : '', value);
        return { guid: res.guid.toString('hex'), value, acks: res.replicasAcknowledged };
      });
      for (const r of results) {
        objects.set(r.guid, r.value);
        expect(r.acks).toBeGreaterThanOrEqual(2);
      }
    } finally {
      cs.forEach((c) => c.close());
    }
    expect(objects.size).toBe(2000);
    const { value: wrong } = await eventually(() => misplaced(live(), [...objects.keys()], K), (w) => w.length === 0, 60_000, 1000);
    expect(wrong).toEqual([]);
  });

  it('after kill -9 of two non-adjacent nodes every object stays readable and gets 3 live copies again', async () => {
    const sorted = [...live()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const victims = [sorted[2]!, sorted[9]!];
    const killedAt = Date.now();
    const pids = victims.map((v) => signalPod(ring.options.runDir, v.name, 'SIGKILL', true).pid);
    expect(await waitForExit(pids, 10_000)).toEqual([]);
    // Re-replication is watched from the kill on, while every object is read back.
    const restored = eventually(() => misplaced(live(), [...objects.keys()], K), (w) => w.length === 0, 60_000, 1000).then((r) => ({ ...r, at: Date.now() - killedAt }));
    expect(await readAll([...objects.keys()])).toEqual([]);
    const readMs = Date.now() - killedAt;
    const { value: wrong, at } = await restored;
    expect(wrong).toEqual([]);
    process.stdout.write(`3 replicas restored ${at} ms after the kill (all 2,000 objects read back after ${readMs} ms)\n`);
  });

  it('adding 4 nodes moves objects to their new closest nodes, and the others drop their copies', async () => {
    const state = ring.state();
    for (const ordinal of [16, 17, 18, 19]) startPod(state, ordinal, ring.options, ring.env);
    await waitForRing(ring.state(), 60_000);
    const { value: wrong } = await eventually(() => misplaced(live(), [...objects.keys()], K), (w) => w.length === 0, 60_000, 1000);
    expect(wrong).toEqual([]);
    expect(await readAll([...objects.keys()].slice(0, 300))).toEqual([]);
  });

  it('removed objects are never readable again, through anti-entropy rounds and a node restart', async () => {
    const removed = [...objects.keys()].slice(0, 200);
    const cs = clients();
    try {
      const res = await inParallel(removed, 16, (g, i) => cs[i % cs.length]!.remove(g));
      res.forEach((r) => expect(r.removed).toBe(true));
    } finally {
      cs.forEach((c) => c.close());
    }
    const stillThere = async () => {
      const h = await holders(live());
      return removed.filter((g) => h.has(g));
    };
    expect(await stillThere()).toEqual([]);
    // A node restarts (same name, same id, its Redis kept), and anti-entropy runs on.
    const restarted = live()[5]!;
    expect(await waitForExit([signalPod(ring.options.runDir, restarted.name, 'SIGKILL').pid], 10_000)).toEqual([]);
    startPod(ring.state(), restarted.ordinal, ring.options, ring.env);
    await waitForRing(ring.state(), 60_000);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await stillThere()).toEqual([]);
    const cs2 = clients();
    try {
      const found = await inParallel(removed, 16, async (g, i) => cs2[i % cs2.length]!.get(g).then(() => g, () => ''));
      expect(found.filter((g) => g !== '')).toEqual([]);
    } finally {
      cs2.forEach((c) => c.close());
    }
    removed.forEach((g) => objects.delete(g));
    expect(await readAll([...objects.keys()].slice(0, 300))).toEqual([]);
  });
});

import { PastryClient } from '../../services/cli/src/client';
import { isRunning, signalPod, waitForExit, waitForRing } from '../../services/cli/src/cluster';
import { expectedLeafSet, trueRoot, walkRing } from '../../services/cli/src/ring';
import { randomIds } from '../helpers/ring';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(180_000);

/** Routes `keys` from rotating entry pods; returns wrong deliveries and mean hops. */
async function routeAll(addresses: string[], ids: string[], keys: string[]): Promise<{ wrong: string[]; meanHops: number }> {
  const clients = addresses.map((a) => new PastryClient(a, 10_000));
  const wrong: string[] = [];
  let hops = 0;
  try {
    for (let i = 0; i < keys.length; i += 50) {
      const batch = keys.slice(i, i + 50);
      const results = await Promise.all(batch.map((key, j) => clients[(i + j) % clients.length]!.route(key)));
      results.forEach((res, j) => {
        const key = batch[j]!;
        const root = res.root!.id.toString('hex');
        if (root !== trueRoot(ids, key)) wrong.push(key);
        hops += res.hops.length;
      });
    }
  } finally {
    clients.forEach((c) => c.close());
  }
  return { wrong, meanHops: hops / keys.length };
}

// The same ring with nodes calling each other over gRPC (the default) and over the framed transport.
describe.each([
  ['grpc', '127.0.11'],
  ['frames', '127.0.47'],
])('a 16-node local ring started in parallel, peers over %s', (transport, subnet) => {
  let ring: TestRing;

  beforeAll(async () => {
    ring = await startRing(16, subnet, { PASTRY_PEER_TRANSPORT: transport });
  });

  afterAll(async () => {
    await ring?.down();
  });

  it('forms one ring whose leaf sets match the true sorted ring', async () => {
    const pods = ring.state().pods;
    const ids = pods.map((p) => p.id);
    for (const pod of [pods[0]!, pods[7]!, pods[15]!]) {
      const members = await walkRing(pod.address);
      expect(members.map((m) => m.id).sort()).toEqual([...ids].sort());
      for (const m of members) expect(m.leafSet).toEqual(expectedLeafSet(ids, m.id, 16));
    }
  });

  it('delivers 1,000 random keys at the numerically closest member, in at most 2 hops on average', async () => {
    const pods = ring.state().pods;
    const ids = pods.map((p) => p.id);
    const { wrong, meanHops } = await routeAll(pods.map((p) => p.address), ids, randomIds(1000, 42));
    expect(wrong).toEqual([]);
    expect(meanHops).toBeLessThanOrEqual(2);
  });

  it('after adding 4 nodes and then stopping 4 others, routing is 100% correct once repaired', async () => {
    await ring.up(20);
    let pods = ring.state().pods;
    expect(pods).toHaveLength(20);
    let ids = pods.map((p) => p.id);
    expect((await routeAll(pods.map((p) => p.address), ids, randomIds(300, 43))).wrong).toEqual([]);

    // Two graceful stops and two crashes.
    const victims = ['pastry-4', 'pastry-9', 'pastry-12', 'pastry-17'];
    const pids = victims.map((name, i) => signalPod(ring.options.runDir, name, i % 2 === 0 ? 'SIGTERM' : 'SIGKILL').pid);
    expect(await waitForExit(pids, 15_000)).toEqual([]);
    await waitForRing(ring.state(), 60_000);

    pods = ring.state().pods.filter((p) => isRunning(p.pid));
    expect(pods).toHaveLength(16);
    ids = pods.map((p) => p.id);
    const members = await walkRing(pods[0]!.address);
    expect(members.map((m) => m.id).sort()).toEqual([...ids].sort());
    const { wrong } = await routeAll(pods.map((p) => p.address), ids, randomIds(1000, 44));
    expect(wrong).toEqual([]);
  });
});

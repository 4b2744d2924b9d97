import { PastryClient } from '../../services/cli/src/client';
import { walkRing } from '../../services/cli/src/ring';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(240_000);

const NODES = 6;
const CAPACITY = 24 * 1024;
const VALUE = Buffer.alloc(1024, 'd');

describe('replica diversion on a local ring with Redis sidecars', () => {
  let ring: TestRing;
  afterAll(async () => ring?.down());

  it('full replicas place copies on their neighbours over gRPC: the ring fills past 90 % before puts fail, and every acknowledged object reads back', async () => {
    ring = await startRing(NODES, '127.0.28', { PASTRY_STORE: 'redis', PASTRY_CAPACITY_BYTES: String(CAPACITY), PASTRY_ANTIENTROPY_INTERVAL_MS: '600000' }, 90_000);
    const pods = ring.state().pods;
    const clients = pods.map((p) => new PastryClient(p.address, 15_000));
    const acked: string[] = [];
    let failures = 0;
    let firstFailureAt = 0;
    const used = async (): Promise<number> => (await walkRing(pods[0]!.address)).reduce((n, m) => n + m.bytes, 0) / (NODES * CAPACITY);
    try {
      for (let i = 0; i < 400 && failures < 5; i++) {
        const name = `diverted-${i}`;
        try {
          await clients[i % NODES]!.put(name, VALUE);
          acked.push(name);
        } catch (error) {
          expect(String(error)).toMatch(/RESOURCE_EXHAUSTED/);
          if (failures++ === 0) firstFailureAt = await used();
        }
      }
      expect(failures).toBe(5);
      console.log(`diversion over gRPC: first failed put at ${(firstFailureAt * 100).toFixed(1)}% of the ring's capacity, ${acked.length} objects acknowledged`);
      expect(firstFailureAt).toBeGreaterThan(0.9);
      for (const m of await walkRing(pods[0]!.address)) expect(m.bytes).toBeLessThanOrEqual(CAPACITY);
      // Diversion did the filling: copies placed on neighbours, counted by the metric.
      let diverted = 0;
      for (const pod of pods) {
        const text = await (await fetch(`http://${pod.host}:${pod.metricsPort}/metrics`)).text();
        diverted += Number(/^pastry_diversion_events_total\{event="diverted"\} (\d+)/m.exec(text)?.[1] ?? 'NaN');
      }
      expect(diverted).toBeGreaterThan(0);
      // Pointers followed on read, through any node.
      for (const [i, name] of acked.entries()) expect((await clients[(i + 1) % NODES]!.get(name)).value.equals(VALUE)).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
  });
});

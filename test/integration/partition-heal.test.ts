import { PastryClient } from '../../services/cli/src/client';
import { readState, ringProblem } from '../../services/cli/src/cluster';
import { netnsRun } from '../helpers/netns-run';

jest.setTimeout(300_000);

const CUT_MS = 30_000;

/**
 * A 12-pod ring, each pod in its own network namespace, cut into pods 0-5 and 6-11 for 30 s
 * while both sides take writes; after the heal the halves must merge into one ring (every
 * leaf set exact) within 30 s, and every acknowledged write must read back.
 */
describe('partition heal on a --netns ring', () => {
  const { runDir, pastry, cleanup } = netnsRun('pastry-heal-', '10.213.58');

  beforeAll(async () => {
    const up = await pastry('cluster', 'up', '--netns', '--nodes', '12', '--subnet', '10.213.58', '--timeout', '90');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
  });

  afterAll(cleanup);

  it('halves cut for 30 s under writes on both sides merge into one ring, and nothing acknowledged is lost', async () => {
    const pods = readState(runDir)!.pods;
    const acked = new Map<string, string>();
    const write = async (via: string, key: string): Promise<void> => {
      const c = new PastryClient(via, 3000);
      try {
        await c.put(key, Buffer.from(`${key}@${via}`));
        acked.set(key, `${key}@${via}`);
      } catch {
        // Not acknowledged: the checker owes it nothing.
      } finally {
        c.close();
      }
    };
    for (let i = 0; i < 24; i++) await write(pods[i % 12]!.address, `before-${i}`);
    expect(acked.size).toBe(24);

    expect((await pastry('cluster', 'partition', '0-5')).code).toBe(0);
    const cutAt = Date.now();
    let n = 0;
    while (Date.now() - cutAt < CUT_MS) {
      await Promise.all([write(pods[n % 6]!.address, `side-a-${n}`), write(pods[6 + (n % 6)]!.address, `side-b-${n}`)]);
      n++;
      await new Promise((r) => setTimeout(r, 250));
    }
    const duringA = [...acked.keys()].filter((k) => k.startsWith('side-a')).length;
    const duringB = [...acked.keys()].filter((k) => k.startsWith('side-b')).length;
    expect(duringA).toBeGreaterThan(0);
    expect(duringB).toBeGreaterThan(0);

    expect((await pastry('cluster', 'heal')).code).toBe(0);
    const healedAt = Date.now();
    let problem = 'not checked';
    while (Date.now() - healedAt < 30_000) {
      problem = await ringProblem(pods, 16);
      if (problem === '') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const mergeMs = Date.now() - healedAt;
    process.stdout.write(`partition heal on 12 --netns pods: one ring ${mergeMs} ms after the heal (${duringA} + ${duringB} writes acknowledged during the 30 s cut)\n`);
    expect(problem).toBe('');

    // Anti-entropy moves each half's writes to their true replicas; every read must find them.
    const lost: string[] = [];
    const deadline = Date.now() + 60_000;
    for (const [key, value] of acked) {
      for (;;) {
        const c = new PastryClient(pods[Math.floor(Math.random() * 12)]!.address, 3000);
        const got = await c.get(key).then((r) => r.value.toString(), (e: Error) => e.message).finally(() => c.close());
        if (got === value) break;
        if (Date.now() > deadline) {
          lost.push(`${key}: ${got}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(lost).toEqual([]);
  });
});

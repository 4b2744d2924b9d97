import { runStorageScale } from '../../bench/storage-scale-lib';

// Load ~2 min, leave and refill ~2 min on 2 cores; the bound leaves room for a slow machine.
jest.setTimeout(900_000);

describe('storage at scale on a 4-node local ring', () => {
  it('a graceful leave of a node holding more than 200,000 objects loses none, and a kill -9 with an empty restart ends with every object on its 3 replicas', async () => {
    const lines: string[] = [];
    const r = await runStorageScale(
      { objects: 300_000, nodes: 4, storage: 'memory', valueBytes: 64, idleSeconds: 5, timeoutMs: 420_000, subnet: '127.0.27', port: 7000, metricsPort: 9464 },
      (line) => lines.push(line),
    );
    console.log(`storage at scale: ${lines.join('; ')}; leave ${r.leave.seconds.toFixed(1)} s of a node with ${r.leave.held} objects, refill ${r.restart.seconds.toFixed(1)} s (${r.restart.repairedPerSecond.toFixed(0)} objects/s)`);
    expect(r.leave.held).toBeGreaterThan(200_000);
    // Counted object by object over the live nodes, not sampled.
    expect(r.leave.settled).toBe(true);
    expect(r.leave.short).toBe(0);
    expect(r.restart.refilled).toBe(true);
    expect(r.restart.short).toBe(0);
  });
});

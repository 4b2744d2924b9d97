import { OVERLAY } from '../../services/node/src/constants';
import { digit, sharedPrefixLength } from '../../services/node/src/core/id';
import { DetRing, planeDelays, seedFromEnv } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(300_000);

/**
 * How local the routing tables are: over every filled slot of every node, the mean of the
 * entry's delay divided by the delay of the nearest live node that fits the slot (1 = every
 * slot holds its nearest candidate).
 */
function tableStretch(ring: DetRing, delay: (a: string, b: string) => number): number {
  const live = ring.live();
  let sum = 0;
  let slots = 0;
  for (const node of live) {
    const self = node.handle;
    for (const { row, column, entry } of node.overlay.state.table.entries()) {
      let best = Infinity;
      for (const other of live) {
        const id = other.handle.id;
        if (id === self.id || sharedPrefixLength(self.id, id) !== row || digit(id, row) !== column) continue;
        best = Math.min(best, delay(self.address, other.handle.address));
      }
      sum += delay(self.address, entry.node.address) / best;
      slots++;
    }
  }
  return sum / slots;
}

describe('deterministic network: routing-table refresh', () => {
  it('measures the nodes a fetched row names and keeps the nearer of each pair: the tables grow more local', async () => {
    const seed = seedFromEnv(801);
    const run = async (probes: number): Promise<{ joined: number; lived: number }> => {
      const saved = OVERLAY.tableImproveProbes;
      (OVERLAY as { tableImproveProbes: number }).tableImproveProbes = probes;
      try {
        const delay = planeDelays(seed);
        const ring = new DetRing(seed, { links: { encode: false, delayMs: delay } });
        for (const h of ring.create(80)) ring.start(h);
        expectClean(seed, 'leaf sets after joins', await ring.converge(120_000));
        const joined = tableStretch(ring, delay);
        // 16 refreshes of each node (one every 20 maintenance rounds of 1 s).
        await ring.net.runFor(16 * 20_000);
        expectClean(seed, 'leaf sets after the refreshes', ring.leafSetErrors());
        return { joined, lived: tableStretch(ring, delay) };
      } finally {
        (OVERLAY as { tableImproveProbes: number }).tableImproveProbes = saved;
      }
    };
    const measured = await run(OVERLAY.tableImproveProbes);
    const unmeasured = await run(0);
    process.stdout.write(`table stretch: at join ${measured.joined.toFixed(3)}; after 16 refreshes ${measured.lived.toFixed(3)} with probes, ${unmeasured.lived.toFixed(3)} without\n`);
    expect(measured.lived).toBeLessThan(measured.joined - 0.05);
    expect(measured.lived).toBeLessThan(unmeasured.lived - 0.05);
  });
});

import { leafSetMismatches } from '../../../services/sim/src/checks';
import { runHops } from '../../../services/sim/src/experiments/hops';
import { createScenario, DEFAULT_SCENARIO, type ScenarioOptions } from '../../../services/sim/src/scenario';
import { runLookups } from '../../../services/sim/src/workload';
import { PAPER_CONFIG } from '../../../services/sim/src/world';

const NODES = 2000;
const bound = Math.log(NODES) / Math.log(16) + 1;

function scenario(options: Partial<ScenarioOptions>) {
  return createScenario({ ...DEFAULT_SCENARIO, nodes: NODES, ...options });
}

describe.each(['oracle', 'join'] as const)('a %s-built ring of 2,000 nodes', (build) => {
  const s = scenario({ build, seed: 11 });

  it('has exactly the right leaf set at every node', () => {
    expect(leafSetMismatches(s.world)).toBe(0);
  });

  it('delivers every lookup at the numerically closest live node in few hops', () => {
    const r = runHops(s, 3000);
    expect(r.correct).toBe(1);
    expect(r.meanHops).toBeLessThan(bound);
    expect(r.meanHops).toBeGreaterThan(1.5);
    expect(r.maxHops).toBeLessThanOrEqual(Math.ceil(bound) + 1);
    const total = Object.values(r.distribution).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 4);
  });

  it('fills routing tables with proximity-aware entries and full neighbourhood sets', () => {
    let entries = 0;
    for (const state of s.world.states) {
      entries += state.table.size;
      expect(state.neighborhood.nodes()).toHaveLength(PAPER_CONFIG.neighborhoodSetSize);
    }
    // About 15 * log16(N) entries per node; far fewer means the tables were not built.
    expect(entries / NODES).toBeGreaterThan(30);
  });
});

describe('routing on a latency matrix', () => {
  it('is correct on a join-built ring', () => {
    const s = scenario({ nodes: 400, build: 'join', network: 'matrix', seed: 3 });
    let wrong = 0;
    runLookups(s.world, s.rng, 1000, {}, (r) => {
      if (!r.correct) wrong++;
    });
    expect(wrong).toBe(0);
  });
});

describe('routing with message loss', () => {
  it('retransmits lost messages and still delivers correctly', () => {
    const s = scenario({ nodes: 500, seed: 5, config: { ...PAPER_CONFIG, lossRate: 0.05, retries: 3 } });
    let correct = 0;
    let hops = 0;
    runLookups(s.world, s.rng, 1000, {}, (r) => {
      hops += r.hops;
      if (r.correct) correct++;
    });
    expect(correct).toBe(1000);
    expect(s.world.messages.get('route')!).toBeGreaterThan(hops);
  });
});

import { runFailures, type FailuresResult } from '../../../services/sim/src/experiments/failures';
import { createScenario, DEFAULT_SCENARIO } from '../../../services/sim/src/scenario';

// The experiment runs the node's own overlay (services/node/src/overlay) on every simulated
// node, over the deterministic network: these are the pods' repair figures.
describe.each([
  ['oracle', 2000],
  ['join', 600],
] as const)('10%% node failures on a %s-built ring, repaired by the node protocol', (build, nodes) => {
  let r: FailuresResult;
  beforeAll(async () => {
    r = await runFailures(createScenario({ ...DEFAULT_SCENARIO, nodes, build, seed: 21 }), 3000, 0.1);
  }, 600_000);

  it('keeps every delivery at the numerically closest live node', () => {
    expect(r.failed).toBe(nodes / 10);
    expect(r.before.correct).toBe(1);
    expect(r.afterNoRepair.correct).toBe(1);
    expect(r.afterRepair.correct).toBe(1);
  });

  it("repairs every leaf set through the overlay's leaf-set maintenance", () => {
    expect(r.leafSetMismatches).toBe(0);
    expect(r.leafRepairRpcs).toBeGreaterThan(0);
    expect(r.leafRepairVirtualMs).toBeGreaterThanOrEqual(0);
  });

  it('routes around dead entries, then table repair and the table check remove them all', () => {
    expect(r.before.timeouts).toBe(0);
    expect(r.afterNoRepair.timeouts).toBeGreaterThan(0);
    expect(r.deadEntriesBeforeRepair).toBeGreaterThan(0);
    expect(r.deadEntriesAfterRepair).toBe(0);
    expect(r.afterRepair.timeouts).toBe(0);
    expect(r.tableRepairRpcs).toBeGreaterThan(0);
  });

  it('counts repair apart from failure detection', () => {
    expect(r.keepAlives).toBeGreaterThan(0);
    expect(r.entryChecks).toBeGreaterThan(0);
    expect(r.repairRpcsPerFailedNode).toBeCloseTo((r.leafRepairRpcs + r.tableRepairRpcs) / r.failed, 1);
  });
});

import { runFailures } from '../../../services/sim/src/experiments/failures';
import { createScenario, DEFAULT_SCENARIO } from '../../../services/sim/src/scenario';

describe.each([
  ['oracle', 2000],
  ['join', 600],
] as const)('10%% silent failures on a %s-built ring', (build, nodes) => {
  const r = runFailures(createScenario({ ...DEFAULT_SCENARIO, nodes, build, seed: 21 }), 3000, 0.1);

  it('keeps every delivery at the numerically closest live node', () => {
    expect(r.failed).toBe(nodes / 10);
    expect(r.before.correct).toBe(1);
    expect(r.afterNoRepair.correct).toBe(1);
    expect(r.afterRepair.correct).toBe(1);
  });

  it('repairs every leaf set through keep-alives', () => {
    expect(r.leafSetMismatches).toBe(0);
    expect(r.leafRepairRpcs).toBeGreaterThan(0);
  });

  it('routes around dead entries by timeout, then the repair sweep removes them all', () => {
    expect(r.before.timeouts).toBe(0);
    expect(r.afterNoRepair.timeouts).toBeGreaterThan(0);
    expect(r.deadEntriesBeforeRepair).toBeGreaterThan(0);
    expect(r.deadEntriesAfterRepair).toBe(0);
    expect(r.afterRepair.timeouts).toBe(0);
    expect(r.tableRepairRpcs).toBeGreaterThan(0);
  });
});

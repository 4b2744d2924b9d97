import { runScenario } from './randomized';

jest.setTimeout(1_200_000);

/** Scenarios per file; two files make 1,000 per run. PASTRY_SCENARIO_BASE moves the window of seeds. */
const COUNT = 500;
const BASE = Number(process.env.PASTRY_SCENARIO_BASE ?? 1) + (1 - 1) * COUNT;

describe('deterministic network: randomized scenarios', () => {
  it(`${COUNT} seeded scenarios (seeds ${BASE}..${BASE + COUNT - 1}) keep every invariant`, async () => {
    const wall = Date.now();
    const failed: string[] = [];
    for (let seed = BASE; seed < BASE + COUNT; seed++) {
      const r = await runScenario(seed);
      if (r.problems.length > 0) failed.push(`seed ${seed} (replay: PASTRY_SCENARIO_BASE=${seed} with one scenario, or runScenario(${seed})): ${r.steps.join('; ')}\n    ${r.problems.slice(0, 5).join('\n    ')}`);
    }
    process.stdout.write(`${COUNT} randomized scenarios from seed ${BASE}: ${COUNT - failed.length} clean, ${Date.now() - wall} ms wall\n`);
    expect(failed).toEqual([]);
  });
});

import { runSimCommand } from '../../../services/sim/src/cli';
import { createScenario, DEFAULT_SCENARIO } from '../../../services/sim/src/scenario';
import type { World } from '../../../services/sim/src/world';

async function run(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runSimCommand(argv, (l) => lines.push(l));
  return { code, lines };
}

/** The JSON output without its wall-clock timings, which are the only thing allowed to vary. */
async function hopsJson(seed: string, build: string): Promise<Record<string, unknown>> {
  const { code, lines } = await run(['hops', '--nodes', '400', '--lookups', '1000', '--seed', seed, '--build', build, '--json']);
  expect(code).toBe(0);
  expect(lines).toHaveLength(1);
  const { buildMs, routeMs, ...rest } = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(typeof buildMs).toBe('number');
  expect(typeof routeMs).toBe('number');
  return rest;
}

/** Every node's leaf set and routing table, as text. */
function fingerprint(world: World): string {
  return world.states
    .map((s) => [s.leafSet.members().map((n) => n.id).join(','), s.table.entries().map((e) => `${e.row}.${e.column}=${e.entry.node.id}`).join(',')].join('|'))
    .join('\n');
}

describe('determinism', () => {
  it.each(['oracle', 'join'])('the same seed gives identical output, another seed different output (%s build)', async (build) => {
    const a = await hopsJson('42', build);
    const b = await hopsJson('42', build);
    const c = await hopsJson('43', build);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a.build).toBe(build);
  });

  it('the join protocol builds identical state from the same seed', () => {
    const options = { ...DEFAULT_SCENARIO, nodes: 200, build: 'join' as const };
    const first = fingerprint(createScenario({ ...options, seed: 9 }).world);
    expect(fingerprint(createScenario({ ...options, seed: 9 }).world)).toBe(first);
    expect(fingerprint(createScenario({ ...options, seed: 10 }).world)).not.toBe(first);
  });
});

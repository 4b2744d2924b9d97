import { runSimCommand } from '../../../services/sim/src/cli';

/** Pastry's nearest-replica heuristic (Section 5 of the paper: 76 % with k = 5). */
describe('pastry sim replicas: the nearest of k = 5 replicas', () => {
  it('the heuristic, with its density estimate, reaches the nearest replica first in at least 74 % of lookups on 2,000 joined nodes', async () => {
    const lines: string[] = [];
    const code = await runSimCommand(['replicas', '--nodes', '2000', '--lookups', '3000', '--seed', '1', '--json'], (l) => lines.push(l));
    expect(code).toBe(0);
    const r = JSON.parse(lines[0]!) as { nearestFirst: number; nearestFirstHeuristic: number; twoNearestFirstHeuristic: number; build: string };
    expect(r.build).toBe('join');
    expect(r.nearestFirstHeuristic).toBeGreaterThanOrEqual(0.74);
    expect(r.nearestFirstHeuristic - r.nearestFirst).toBeGreaterThanOrEqual(0.2);
    expect(r.twoNearestFirstHeuristic).toBeGreaterThanOrEqual(0.9);
  }, 60_000);
});

import type { BuildKind, Scenario } from '../scenario';
import { Histogram, round } from '../stats';
import { runLookups } from '../workload';

export interface HopsResult {
  nodes: number;
  lookups: number;
  meanHops: number;
  maxHops: number;
  /** Fraction of lookups per hop count. */
  distribution: Record<string, number>;
  /** Fraction delivered at the numerically closest live node. */
  correct: number;
  build: BuildKind;
  buildMs: number;
  routeMs: number;
}

/** The Pastry paper's Figure 2/3 figures at N = 100,000 (b = 4, |L| = 16, |M| = 32). */
export const PAPER_HOPS = {
  nodes: 100_000,
  meanHops: 3.98,
  maxHops: 5,
  distribution: { '0': 0, '1': 0.0006, '2': 0.0156, '3': 0.1643, '4': 0.6449, '5': 0.1745 } as Record<string, number>,
};

/** Routes random keys from random nodes; counts hops and checks every delivery. */
export function runHops(scenario: Scenario, lookups: number): HopsResult {
  const { world, build, rng } = scenario;
  const hops = new Histogram();
  let correct = 0;
  const started = performance.now();
  runLookups(world, rng, lookups, {}, (r) => {
    hops.add(r.hops);
    if (r.correct) correct++;
  });
  const routeMs = performance.now() - started;
  const distribution = hops.distribution();
  for (const k of Object.keys(distribution)) distribution[k] = round(distribution[k]!, 6);
  return {
    nodes: world.size,
    lookups,
    meanHops: round(hops.mean),
    maxHops: hops.max,
    distribution,
    correct: lookups === 0 ? 1 : round(correct / lookups, 6),
    build: build.build,
    buildMs: Math.round(build.buildMs),
    routeMs: Math.round(routeMs),
  };
}

import { refreshFigures, type BuildKind, type Scenario } from '../scenario';
import { Mean, round } from '../stats';
import { runLookups } from '../workload';

export interface DistanceResult {
  nodes: number;
  lookups: number;
  build: BuildKind;
  /** Mean network distance (sum of one-way hop delays) a lookup travelled. */
  meanRouteDistance: number;
  /** Mean direct distance from the source to the key's root. */
  meanDirectDistance: number;
  /** meanRouteDistance / meanDirectDistance: how much longer Pastry's routes are. */
  ratio: number;
  /** Mean of the per-lookup ratios (lookups whose source is the root left out). */
  meanLookupRatio: number;
  meanHops: number;
  correct: number;
  buildMs: number;
  /** Routing-table refreshes each node ran after the build, and what they changed. */
  tableRefreshes: number;
  tableProbesPerNode: number;
  tableSlotsImprovedPerNode: number;
  routeMs: number;
}

/** Paper, Figure 5: Pastry routes are about 30–40% longer than the direct path. */
export const PAPER_DISTANCE = { ratioLow: 1.3, ratioHigh: 1.4 };

/** Compares the distance each lookup travels hop by hop with the direct source→root distance. */
export function runDistance(scenario: Scenario, lookups: number): DistanceResult {
  const { world, build, rng } = scenario;
  const route = new Mean();
  const direct = new Mean();
  const perLookup = new Mean();
  const hops = new Mean();
  let correct = 0;
  const started = performance.now();
  runLookups(world, rng, lookups, {}, (r) => {
    const d = world.model.delay(r.source, r.destination);
    route.add(r.distance);
    direct.add(d);
    hops.add(r.hops);
    if (d > 0) perLookup.add(r.distance / d);
    if (r.correct) correct++;
  });
  return {
    nodes: world.size,
    lookups,
    build: build.build,
    meanRouteDistance: round(route.value, 2),
    meanDirectDistance: round(direct.value, 2),
    ratio: round(direct.value === 0 ? 1 : route.value / direct.value),
    meanLookupRatio: round(perLookup.value),
    meanHops: round(hops.value),
    correct: lookups === 0 ? 1 : round(correct / lookups, 6),
    buildMs: Math.round(build.buildMs),
    ...refreshFigures(scenario),
    routeMs: Math.round(performance.now() - started),
  };
}

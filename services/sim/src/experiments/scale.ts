import type { BuildKind, Scenario } from '../scenario';
import { Histogram, memoryMb, round } from '../stats';
import { runLookups } from '../workload';

export interface ScaleResult {
  nodes: number;
  lookups: number;
  build: BuildKind;
  buildMs: number;
  routeMs: number;
  lookupsPerSecond: number;
  meanHops: number;
  maxHops: number;
  distribution: Record<string, number>;
  correct: number;
  /** Memory once the ring was built, and at the end. */
  rssMbAfterBuild: number;
  heapUsedMbAfterBuild: number;
  rssMb: number;
  heapUsedMb: number;
}

/** How far one process gets: build time, routing throughput and memory at large N. */
export function runScale(scenario: Scenario, lookups: number, memoryAfterBuild: { rssMb: number; heapUsedMb: number }): ScaleResult {
  const { world, build, rng } = scenario;
  const hops = new Histogram();
  let correct = 0;
  const started = performance.now();
  runLookups(world, rng, lookups, { repairTable: false }, (r) => {
    hops.add(r.hops);
    if (r.correct) correct++;
  });
  const routeMs = performance.now() - started;
  const distribution = hops.distribution();
  for (const k of Object.keys(distribution)) distribution[k] = round(distribution[k]!, 6);
  const end = memoryMb();
  return {
    nodes: world.size,
    lookups,
    build: build.build,
    buildMs: Math.round(build.buildMs),
    routeMs: Math.round(routeMs),
    lookupsPerSecond: routeMs === 0 ? 0 : Math.round((lookups * 1000) / routeMs),
    meanHops: round(hops.mean),
    maxHops: hops.max,
    distribution,
    correct: lookups === 0 ? 1 : round(correct / lookups, 6),
    rssMbAfterBuild: memoryAfterBuild.rssMb,
    heapUsedMbAfterBuild: memoryAfterBuild.heapUsedMb,
    rssMb: end.rssMb,
    heapUsedMb: end.heapUsedMb,
  };
}

import type { BuildKind, Scenario } from '../scenario';
import { memoryMb } from '../stats';
import { runHops } from './hops';

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
  const hops = runHops(scenario, lookups);
  const end = memoryMb();
  return {
    nodes: hops.nodes,
    lookups,
    build: hops.build,
    buildMs: hops.buildMs,
    routeMs: hops.routeMs,
    lookupsPerSecond: hops.routeMs === 0 ? 0 : Math.round((lookups * 1000) / hops.routeMs),
    meanHops: hops.meanHops,
    maxHops: hops.maxHops,
    distribution: hops.distribution,
    correct: hops.correct,
    rssMbAfterBuild: memoryAfterBuild.rssMb,
    heapUsedMbAfterBuild: memoryAfterBuild.heapUsedMb,
    rssMb: end.rssMb,
    heapUsedMb: end.heapUsedMb,
  };
}

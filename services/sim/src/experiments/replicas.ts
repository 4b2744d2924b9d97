import { nearestReplicaGuess, type Id, type RouteDecision } from '../../../node/src/core';
import { refreshFigures, type BuildKind, type Scenario } from '../scenario';
import { round } from '../stats';
import { randomRequest } from '../workload';
import { runLookup } from '../lookup';
import type { World } from '../world';

export interface ReplicasResult {
  nodes: number;
  lookups: number;
  replicas: number;
  build: BuildKind;
  /** Fraction of plain routes whose first replica reached is the one nearest the source. */
  nearestFirst: number;
  /** Same, with the heuristic. */
  nearestFirstHeuristic: number;
  /** Fraction whose first replica is one of the two nearest, plain and with the heuristic. */
  twoNearestFirst: number;
  twoNearestFirstHeuristic: number;
  buildMs: number;
  /** Routing-table refreshes each node ran after the build, and what they changed. */
  tableRefreshes: number;
  tableProbesPerNode: number;
  tableSlotsImprovedPerNode: number;
  routeMs: number;
}

/** Paper, Section 5: with k = 5, 68% of lookups reach the nearest replica first, 76% with the heuristic. */
export const PAPER_REPLICAS = { replicas: 5, nearestFirst: 0.68, nearestFirstHeuristic: 0.76 };

/**
 * Each key has k replicas on the k numerically closest live nodes. A lookup is routed from a
 * random node; the first replica it reaches serves it. We count how often that is the replica
 * nearest (by network delay) to the source: plainly, and with the heuristic below.
 */
export function runReplicas(scenario: Scenario, lookups: number, k: number): ReplicasResult {
  const { world, build, rng } = scenario;
  const ring = world.liveRing();
  const live = ring.sortedNodes();
  let plain1 = 0;
  let plain2 = 0;
  let heur1 = 0;
  let heur2 = 0;
  const started = performance.now();
  for (let i = 0; i < lookups; i++) {
    const { source, key } = randomRequest(world, rng, live);
    const replicas = ring.closest(key, k);
    const byDelay = [...replicas].sort((a, b) => world.model.delay(source, a) - world.model.delay(source, b));
    const isReplica = (n: number): boolean => replicas.includes(n);
    let first = -1;
    runLookup(world, source, key, {
      visit: (n) => {
        if (first < 0 && isReplica(n)) first = n;
        return false;
      },
    });
    if (first === byDelay[0]) plain1++;
    if (first === byDelay[0] || first === byDelay[1]) plain2++;
    const viaHeuristic = runLookup(world, source, key, {
      visit: isReplica,
      redirect: (at, target, decision) => nearestLocalReplica(world, at, target, k, decision),
    }).destination;
    if (viaHeuristic === byDelay[0]) heur1++;
    if (viaHeuristic === byDelay[0] || viaHeuristic === byDelay[1]) heur2++;
  }
  const fraction = (n: number): number => (lookups === 0 ? 0 : round(n / lookups));
  return {
    nodes: world.size,
    lookups,
    replicas: k,
    build: build.build,
    nearestFirst: fraction(plain1),
    nearestFirstHeuristic: fraction(heur1),
    twoNearestFirst: fraction(plain2),
    twoNearestFirstHeuristic: fraction(heur2),
    buildMs: Math.round(build.buildMs),
    ...refreshFigures(scenario),
    routeMs: Math.round(performance.now() - started),
  };
}

/** The node's own heuristic (core `nearestReplicaGuess`), with the model's RTTs as what node `at` measured. */
export function nearestLocalReplica(world: World, at: number, key: Id, k: number, decision: RouteDecision): number | undefined {
  if (decision.kind === 'deliver') return undefined;
  const guess = nearestReplicaGuess(world.states[at]!, key, k, (n) => world.rtt(at, world.indexOf(n)));
  return guess === undefined ? undefined : world.indexOf(guess);
}

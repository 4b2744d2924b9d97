import { readFileSync } from 'node:fs';
import { buildByJoin, type JoinReport } from './build/join';
import { buildOracle, type OracleReport } from './build/oracle';
import { refreshTables, type RefreshReport } from './build/refresh';
import { LatencyMatrix } from './network/latency-matrix';
import type { NetworkModel } from './network/model';
import { EuclideanPlane } from './network/plane';
import { Rng } from './rng';
import { PAPER_CONFIG, World, type WorldConfig } from './world';

export type BuildKind = 'join' | 'oracle';
export type NetworkKind = 'plane' | 'matrix';

export interface ScenarioOptions {
  nodes: number;
  seed: number;
  build: BuildKind;
  network: NetworkKind;
  /** A latency-matrix file (JSON rows or whitespace text); implies the matrix network. */
  matrixFile?: string;
  /** Oracle build: candidates examined per routing-table slot. */
  candidates: number;
  /** Join build: 0 joins through the nearest node, k > 0 through the nearest of k sampled. */
  bootstrapSample: number;
  /** Routing-table refreshes every node runs after the build (the live ring's maintenance). */
  tableRefreshes?: number;
  config: WorldConfig;
}

export const DEFAULT_SCENARIO: ScenarioOptions = {
  nodes: 1000,
  seed: 1,
  build: 'oracle',
  network: 'plane',
  candidates: 16,
  bootstrapSample: 0,
  config: PAPER_CONFIG,
};

export type BuildReport = JoinReport | OracleReport;

export interface Scenario {
  world: World;
  build: BuildReport;
  /** The maintenance run after the build, if any. */
  refresh?: RefreshReport;
  /** Randomness for the experiment's own draws (lookup sources, keys, failures). */
  rng: Rng;
}

/**
 * Makes a ring from a seed: ids, network positions, build and workload each draw from their
 * own stream forked off the seed, so changing e.g. the build leaves the ids as they were.
 */
export function createScenario(options: ScenarioOptions): Scenario {
  const master = new Rng(options.seed);
  const idRng = master.fork();
  const netRng = master.fork();
  const buildRng = master.fork();
  const workRng = master.fork();
  const transportRng = master.fork();
  // Forked last, so the other streams are the same with or without refreshes.
  const refreshRng = master.fork();
  const model = makeNetwork(options, netRng);
  const ids = uniqueIds(model.size, idRng);
  const world = new World(model, options.config, transportRng, ids);
  const build =
    options.build === 'oracle'
      ? buildOracle(world, { candidates: options.candidates }, buildRng)
      : buildByJoin(world, { bootstrapSample: options.bootstrapSample }, buildRng, [...Array(model.size).keys()]);
  const refreshes = options.tableRefreshes ?? 0;
  const refresh = refreshes > 0 ? refreshTables(world, refreshes, refreshRng) : undefined;
  return { world, build, refresh, rng: workRng };
}

function makeNetwork(options: ScenarioOptions, rng: Rng): NetworkModel {
  if (options.matrixFile !== undefined) {
    const matrix = LatencyMatrix.parse(readFileSync(options.matrixFile, 'utf8'));
    if (matrix.size !== options.nodes) {
      throw new RangeError(`the latency matrix has ${matrix.size} nodes but --nodes is ${options.nodes}`);
    }
    return matrix;
  }
  return options.network === 'matrix' ? LatencyMatrix.synthetic(options.nodes, rng) : EuclideanPlane.random(options.nodes, rng);
}

/** Random ids; a collision among 128-bit ids is practically impossible but still redrawn. */
function uniqueIds(count: number, rng: Rng): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  while (ids.length < count) {
    const id = rng.id();
    if (seen.has(id)) continue;
    seen.add(id);
    ids.push(id);
  }
  return ids;
}

/** The table maintenance a scenario ran after its build, per node, for experiment results. */
export function refreshFigures(scenario: Scenario): { tableRefreshes: number; tableProbesPerNode: number; tableSlotsImprovedPerNode: number } {
  const r = scenario.refresh;
  const nodes = Math.max(1, scenario.world.size);
  return {
    tableRefreshes: r?.refreshes ?? 0,
    tableProbesPerNode: r ? Math.round((r.probes / nodes) * 10) / 10 : 0,
    tableSlotsImprovedPerNode: r ? Math.round((r.replaced / nodes) * 10) / 10 : 0,
  };
}

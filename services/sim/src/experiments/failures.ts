import { deadTableEntries, leafSetMismatches } from '../checks';
import { OverlayWorld, type OverlayLookup } from '../overlay-world';
import type { BuildKind, Scenario } from '../scenario';
import { Histogram, round } from '../stats';
import { randomRequest } from '../workload';

export interface PhaseResult {
  meanHops: number;
  maxHops: number;
  /** Hops to dead nodes, found by a failed call and routed around. */
  timeouts: number;
  correct: number;
}

export interface FailuresResult {
  nodes: number;
  failed: number;
  lookups: number;
  build: BuildKind;
  before: PhaseResult;
  afterNoRepair: PhaseResult;
  afterRepair: PhaseResult;
  /** Leaf-set repair RPCs: exchanges with the farthest members, and probes of the newcomers they named. */
  leafRepairRpcs: number;
  /** Routing-table repair RPCs: requests for a row of a node in the same row. */
  tableRepairRpcs: number;
  /** Of those, the row requests alone (the rest probe the replacement a row gave). */
  tableRowRequests: number;
  repairRpcsPerFailedNode: number;
  tableRepairRpcsPerFailedNode: number;
  /** Failure-detection traffic, not counted as repair: leaf-set exchanges, suspect probes, table checks. */
  keepAlives: number;
  suspectProbes: number;
  entryChecks: number;
  /** Dead routing-table entries left before the repair and after it. */
  deadEntriesBeforeRepair: number;
  deadEntriesAfterRepair: number;
  /** Live nodes whose leaf set is not exactly right, once leaf-set maintenance had its time. */
  leafSetMismatches: number;
  /** Virtual ms from the failures until every leaf set was exact, and for the table repair. */
  leafRepairVirtualMs: number;
  tableRepairVirtualMs: number;
  /** Passes of the table check until one found no dead entry. */
  tableCheckPasses: number;
  buildMs: number;
  runMs: number;
}

/** Paper, Section 5 (5,000 nodes, 10% failed, 200,000 lookups). */
export const PAPER_FAILURES = { hopsBefore: 2.73, hopsNoRepair: 2.96, hopsRepaired: 2.74, repairRpcsPerFailedNode: 57 };

export const LEAF_REPAIR_KINDS = ['leaf_set_repair', 'admission_probe'] as const;
export const TABLE_REPAIR_KINDS = ['table_repair', 'table_repair_probe'] as const;

/** The node's defaults (PASTRY_MAINTENANCE_INTERVAL_MS), so the figures are those of the pods' protocol. */
const MAINTENANCE_INTERVAL_MS = 1000;
/** Lookups in flight at once, at least: about one per node, so a phase takes little virtual time. */
const MIN_CONCURRENCY = 500;
/** Table-check passes at most in the repair stage. */
const MAX_CHECK_PASSES = 5;
/** Bounds on each repair stage, in virtual time. */
const STAGE_LIMIT_MS = 15 * 60_000;

/**
 * Node failures, run by the node's own protocol (services/node/src/overlay) on the built
 * ring: lookups before; then a fraction of nodes crash, and the overlays' leaf-set
 * maintenance finds them and repairs every leaf set, with routing-table repair paused;
 * lookups on the unrepaired tables (a dead hop is routed around and its slot emptied); then
 * table repair resumes and each node checks its entries, repairing dead and emptied slots;
 * lookups again.
 */
export async function runFailures(scenario: Scenario, lookups: number, failFraction: number): Promise<FailuresResult> {
  const { world, build, rng } = scenario;
  const started = performance.now();
  const ring = new OverlayWorld(world, rng.int(2 ** 31), { maintenanceIntervalMs: MAINTENANCE_INTERVAL_MS, rpcTimeoutMs: world.config.timeoutMs });
  ring.start();
  try {
    const before = await phase(ring, scenario, lookups);

    const victims = rng.sample(world.size, Math.floor(world.size * failFraction));
    for (const o of ring.overlays) o.table.pauseRepairs();
    const leafBefore = ring.total(LEAF_REPAIR_KINDS);
    for (const v of victims) ring.fail(v);
    const leafRepairVirtualMs = await ring.runUntil(() => leafSetMismatches(world) === 0, MAINTENANCE_INTERVAL_MS, STAGE_LIMIT_MS);
    const mismatches = leafSetMismatches(world);

    const afterNoRepair = await phase(ring, scenario, lookups);

    const deadEntriesBeforeRepair = deadTableEntries(world);
    const tableBefore = ring.total(TABLE_REPAIR_KINDS);
    const rowRequestsBefore = ring.total(['table_repair']);
    const tables = await repairTables(ring);
    const tableRepairRpcs = ring.total(TABLE_REPAIR_KINDS) - tableBefore;
    const deadEntriesAfterRepair = deadTableEntries(world);

    const afterRepair = await phase(ring, scenario, lookups);
    const leafRepairRpcs = ring.total(LEAF_REPAIR_KINDS) - leafBefore;
    const failed = victims.length;
    return {
      nodes: world.size,
      failed,
      lookups,
      build: build.build,
      before,
      afterNoRepair,
      afterRepair,
      leafRepairRpcs,
      tableRepairRpcs,
      tableRowRequests: ring.total(['table_repair']) - rowRequestsBefore,
      repairRpcsPerFailedNode: failed === 0 ? 0 : round((leafRepairRpcs + tableRepairRpcs) / failed, 2),
      tableRepairRpcsPerFailedNode: failed === 0 ? 0 : round(tableRepairRpcs / failed, 2),
      keepAlives: ring.total(['exchange_leaf_set']),
      suspectProbes: ring.total(['probe']),
      entryChecks: ring.total(['table_check']),
      deadEntriesBeforeRepair,
      deadEntriesAfterRepair,
      leafSetMismatches: mismatches,
      leafRepairVirtualMs,
      tableRepairVirtualMs: tables.virtualMs,
      tableCheckPasses: tables.passes,
      buildMs: Math.round(build.buildMs),
      runMs: Math.round(performance.now() - started),
    };
  } finally {
    ring.stop();
  }
}

async function phase(ring: OverlayWorld, scenario: Scenario, lookups: number): Promise<PhaseResult> {
  const live = ring.world.liveRing().sortedNodes();
  const requests = Array.from({ length: lookups }, () => randomRequest(ring.world, scenario.rng, live));
  const hops = new Histogram();
  let correct = 0;
  const retriesBefore = ring.retries();
  await ring.lookups(requests, Math.max(MIN_CONCURRENCY, ring.world.size), (r: OverlayLookup) => {
    hops.add(r.hops);
    if (r.correct) correct++;
  });
  const timeouts = ring.retries() - retriesBefore;
  return { meanHops: round(hops.mean), maxHops: hops.max, timeouts, correct: lookups === 0 ? 1 : round(correct / lookups, 6) };
}

/**
 * Resumes routing-table repair on every live node (the slots emptied meanwhile are refilled)
 * and runs the node's table check (every entry pinged, as each node does every
 * OVERLAY.tableCheckRounds rounds) until a pass finds no dead entry: rows fetched during a
 * pass may come from nodes that have not found their own dead entries yet. Returns the
 * virtual time it took and the passes run.
 */
async function repairTables(ring: OverlayWorld): Promise<{ virtualMs: number; passes: number }> {
  const start = ring.net.now;
  let passes = 0;
  for (let silent = 1; silent > 0 && passes < MAX_CHECK_PASSES; passes++) {
    silent = 0;
    let pending = 0;
    for (let x = 0; x < ring.world.size; x++) {
      if (!ring.world.isAlive(x)) continue;
      const table = ring.overlays[x]!.table;
      pending++;
      void Promise.all([passes === 0 ? table.resumeRepairs() : undefined, table.check()])
        .then(([, found]) => (silent += found))
        .finally(() => pending--);
    }
    const settled = (): boolean => pending === 0 && ring.overlays.every((o, x) => !ring.world.isAlive(x) || o.suspected().size === 0);
    if ((await ring.runUntil(settled, MAINTENANCE_INTERVAL_MS, STAGE_LIMIT_MS)) < 0) throw new Error('routing-table repair did not settle');
    // A confirmed failure starts its slot's repair after the probes: give those answers their time.
    await ring.net.runFor(2 * ring.world.config.timeoutMs);
  }
  return { virtualMs: ring.net.now - start, passes };
}

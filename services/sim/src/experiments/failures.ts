import { deadTableEntries, leafSetMismatches } from '../checks';
import type { LookupOptions } from '../lookup';
import { HoleLog, LEAF_REPAIR_KINDS, TABLE_REPAIR_KINDS, handleDeadContact, leafKeepAlive, repairTableSlot } from '../repair';
import type { BuildKind, Scenario } from '../scenario';
import { Histogram, round } from '../stats';
import { runLookups } from '../workload';
import type { World } from '../world';

export interface PhaseResult {
  meanHops: number;
  maxHops: number;
  /** Hops to dead nodes detected by timeout (and routed around). */
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
  /** Leaf-set repair RPCs (leaf-set requests and probes of newcomers). */
  leafRepairRpcs: number;
  /** Routing-table repair RPCs (row requests and probes of replacements). */
  tableRepairRpcs: number;
  /** Of those, the row requests alone (the paper's procedure does not mention probes). */
  tableRowRequests: number;
  repairRpcsPerFailedNode: number;
  tableRepairRpcsPerFailedNode: number;
  /** Failure-detection traffic, not counted as repair: leaf keep-alives and table entry checks. */
  keepAlives: number;
  entryChecks: number;
  /** Dead routing-table entries left before the repair sweep and after it. */
  deadEntriesBeforeRepair: number;
  deadEntriesAfterRepair: number;
  /** Live nodes whose leaf set is not exactly right, after the keep-alive round. */
  leafSetMismatches: number;
  buildMs: number;
  runMs: number;
}

/** Paper, Section 5 (5,000 nodes, 10% failed, 200,000 lookups). */
export const PAPER_FAILURES = { hopsBefore: 2.73, hopsNoRepair: 2.96, hopsRepaired: 2.74, repairRpcsPerFailedNode: 57 };

/**
 * Silent failures: lookups before; then a fraction of nodes fail, leaf-set keep-alives find
 * them and repair the leaf sets; lookups with the routing tables unrepaired (a dead hop costs
 * a timeout, is forgotten and routed around); then a repair sweep in which each node checks
 * its routing-table entries and lazily repairs dead and emptied slots; lookups again.
 */
export function runFailures(scenario: Scenario, lookups: number, failFraction: number): FailuresResult {
  const { world, build, rng } = scenario;
  const started = performance.now();
  const before = phase(world, scenario, lookups, { repairTable: false });

  const victims = rng.sample(world.size, Math.floor(world.size * failFraction));
  for (const v of victims) world.fail(v);
  const leafBefore = world.total(LEAF_REPAIR_KINDS);
  forEachLive(world, (x, done) => leafKeepAlive(world, x, done));
  const mismatches = leafSetMismatches(world);

  const holes = new HoleLog();
  const afterNoRepair = phase(world, scenario, lookups, { repairTable: false, holes });

  const deadEntriesBeforeRepair = deadTableEntries(world);
  const tableBefore = world.total(TABLE_REPAIR_KINDS);
  const rowRequestsBefore = world.total(['row_request']);
  forEachLive(world, (x, done) => repairSweep(world, x, holes, done));
  const tableRepairRpcs = world.total(TABLE_REPAIR_KINDS) - tableBefore;
  const tableRowRequests = world.total(['row_request']) - rowRequestsBefore;
  const deadEntriesAfterRepair = deadTableEntries(world);

  const afterRepair = phase(world, scenario, lookups, { repairTable: true });
  const leafRepairRpcs = world.total(LEAF_REPAIR_KINDS) - leafBefore;
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
    tableRowRequests,
    repairRpcsPerFailedNode: failed === 0 ? 0 : round((leafRepairRpcs + tableRepairRpcs) / failed, 2),
    tableRepairRpcsPerFailedNode: failed === 0 ? 0 : round(tableRepairRpcs / failed, 2),
    keepAlives: world.total(['keepalive']),
    entryChecks: world.total(['entry_check']),
    deadEntriesBeforeRepair,
    deadEntriesAfterRepair,
    leafSetMismatches: mismatches,
    buildMs: Math.round(build.buildMs),
    runMs: Math.round(performance.now() - started),
  };
}

function phase(world: World, scenario: Scenario, lookups: number, options: LookupOptions): PhaseResult {
  const hops = new Histogram();
  let timeouts = 0;
  let correct = 0;
  runLookups(world, scenario.rng, lookups, options, (r) => {
    hops.add(r.hops);
    timeouts += r.timeouts;
    if (r.correct) correct++;
  });
  return { meanHops: round(hops.mean), maxHops: hops.max, timeouts, correct: lookups === 0 ? 1 : round(correct / lookups, 6) };
}

/** Starts `task` on every live node at once and runs the event queue until all finished. */
function forEachLive(world: World, task: (x: number, done: () => void) => void): void {
  let pending = 0;
  for (let x = 0; x < world.size; x++) {
    if (!world.isAlive(x)) continue;
    pending++;
    task(x, () => pending--);
  }
  world.queue.run();
  if (pending !== 0) throw new Error(`${pending} nodes did not finish`);
}

/**
 * One node's routing-table sweep: check every entry (an `entry_check` each); a dead one is
 * forgotten and its slot lazily repaired, as is every slot emptied earlier by routing.
 */
function repairSweep(world: World, x: number, holes: HoleLog, done: () => void): void {
  const entries = world.states[x]!.table.entries();
  const slots = holes.take(x);
  let pending = entries.length + slots.length;
  if (pending === 0) return done();
  const finish = (): void => {
    if (--pending === 0) done();
  };
  for (const [row, column] of slots) repairTableSlot(world, x, row, column, finish);
  for (const { row, column, entry } of entries) {
    const m = world.indexOf(entry.node);
    world.rpc(x, m, 'entry_check', () => undefined, finish, () =>
      handleDeadContact(world, x, m, { repairTable: false }, () => repairTableSlot(world, x, row, column, finish)),
    );
  }
}

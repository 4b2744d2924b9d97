import type { NodeHandle } from '../../services/node/src/core/node-handle';
import { DetRing } from './ring';
import { misroutes } from './scenarios';

/** One seeded scenario of joins, crashes, restarts, partitions, loss and client operations. */
export interface ScenarioReport {
  seed: number;
  steps: string[];
  problems: string[];
}

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];

/**
 * Builds a small ring, applies 6–10 random steps, lets it quiesce, then checks the
 * invariants: every leaf set exact, every key delivered at its true root, every
 * acknowledged write on its k replicas and readable (unless a later acknowledged write
 * superseded it). A crash or restart (which empties a store) waits for re-replication
 * before the next one, so k copies are never all lost by construction of the scenario.
 */
export async function runScenario(seed: number): Promise<ScenarioReport> {
  // Small rings and many of them: messages skip the protobuf round trip (the other suites keep it).
  const ring = new DetRing(seed, { leafSetSize: 8, rpcTimeoutMs: 1000, antiEntropyIntervalMs: 3000, partitionProbeIntervalMs: 1000, links: { encode: false } });
  const rng = ring.net.rng;
  const handles = ring.create(5 + rng.int(5));
  const steps: string[] = [];
  const problems: string[] = [];
  for (const h of handles) ring.start(h);
  const joined = await ring.converge(30_000);
  if (joined.length > 0) return { seed, steps: ['join'], problems: joined.map((e) => `after join: ${e}`) };
  const crashed: NodeHandle[] = [];
  const count = 6 + rng.int(5);
  for (let s = 0; s < count; s++) {
    const live = ring.live();
    const via = live[rng.int(live.length)]!;
    const roll = rng.int(10);
    if (roll < 4) {
      const name = rng.pick(NAMES);
      steps.push(`put ${name} via ${via.handle.name}`);
      await ring.put(via, name, `${name}@${ring.net.now}`);
    } else if (roll < 5) {
      const name = rng.pick(NAMES);
      steps.push(`remove ${name} via ${via.handle.name}`);
      await ring.remove(via, name);
    } else if (roll < 6 && live.length > 4) {
      const victim = live[rng.int(live.length)]!.handle;
      steps.push(`crash ${victim.name}`);
      ring.crash(victim);
      crashed.push(victim);
      await settleAfterLoss(ring);
    } else if (roll < 7 && crashed.length > 0) {
      const back = crashed.splice(rng.int(crashed.length), 1)[0]!;
      steps.push(`restart ${back.name} (empty store)`);
      ring.start(back);
      await settleAfterLoss(ring);
    } else if (roll < 8) {
      const addresses = live.map((n) => n.handle.address);
      const cut = 1 + rng.int(addresses.length - 1);
      const a = addresses.slice(0, cut);
      const b = addresses.slice(cut);
      const ms = 2_000 + rng.int(8_000);
      steps.push(`partition ${a.length}|${b.length} for ${ms} ms`);
      ring.net.partition([a, b]);
      await ring.net.runFor(ms / 2);
      const sideA = ring.live().filter((n) => a.includes(n.handle.address));
      const sideB = ring.live().filter((n) => b.includes(n.handle.address));
      if (sideA.length > 0) await ring.put(sideA[rng.int(sideA.length)]!, rng.pick(NAMES), `A@${ring.net.now}`, 5_000);
      if (sideB.length > 0) await ring.put(sideB[rng.int(sideB.length)]!, rng.pick(NAMES), `B@${ring.net.now}`, 5_000);
      await ring.net.runFor(ms / 2);
      ring.net.heal();
      // A side smaller than the write quorum acknowledged writes with fewer copies: they
      // are spread again before anything else may fail.
      await settleAfterLoss(ring);
    } else if (roll < 9) {
      const ms = 1_000 + rng.int(4_000);
      steps.push(`5% loss for ${ms} ms`);
      ring.net.links = { ...ring.net.links, lossRate: 0.05 };
      await ring.put(via, rng.pick(NAMES), `lossy@${ring.net.now}`, 5_000);
      await ring.net.runFor(ms);
      ring.net.links = { ...ring.net.links, lossRate: 0 };
    } else {
      const ms = rng.int(3_000);
      steps.push(`wait ${ms} ms`);
      await ring.net.runFor(ms);
    }
  }
  ring.net.heal();
  ring.net.links = { ...ring.net.links, lossRate: 0 };
  problems.push(...(await ring.converge(60_000)).map((e) => `leaf sets: ${e}`));
  await ring.net.runFor(2 * ring.options.antiEntropyIntervalMs + 2_000);
  problems.push(...(await misroutes(ring, 20)).map((e) => `routing: ${e}`));
  problems.push(...(await ring.missingReplicas()).map((e) => `replicas: ${e}`));
  problems.push(...(await ring.lostReads()).map((e) => `reads: ${e}`));
  return { seed, steps, problems };
}

/** After a node's data is lost: the ring repairs itself and re-replicates before anything else. */
async function settleAfterLoss(ring: DetRing): Promise<void> {
  await ring.converge(30_000);
  await ring.net.runFor(2 * ring.options.antiEntropyIntervalMs + 1_000);
}

/** Scenarios per test file; the two files make 1,000 per run. */
const WINDOW = 500;

/**
 * Declares the test of window `part` (1, 2, …) of randomized scenarios. PASTRY_SCENARIO_BASE
 * moves the first seed and PASTRY_SCENARIO_COUNT the window's size, so that
 * `PASTRY_SCENARIO_BASE=<seed> PASTRY_SCENARIO_COUNT=1` replays one failing scenario.
 */
export function scenarioWindow(part: number): void {
  const count = Number(process.env.PASTRY_SCENARIO_COUNT ?? WINDOW);
  const base = Number(process.env.PASTRY_SCENARIO_BASE ?? 1) + (part - 1) * count;
  describe('deterministic network: randomized scenarios', () => {
    it(`${count} seeded scenarios (seeds ${base}..${base + count - 1}) keep every invariant`, async () => {
      const wall = Date.now();
      const failed: string[] = [];
      for (let seed = base; seed < base + count; seed++) {
        const r = await runScenario(seed);
        if (r.problems.length > 0) failed.push(`seed ${seed} (replay: PASTRY_SCENARIO_BASE=${seed} PASTRY_SCENARIO_COUNT=1): ${r.steps.join('; ')}\n    ${r.problems.slice(0, 5).join('\n    ')}`);
      }
      process.stdout.write(`${count} randomized scenarios from seed ${base}: ${count - failed.length} clean, ${Date.now() - wall} ms wall\n`);
      expect(failed).toEqual([]);
    });
  });
}

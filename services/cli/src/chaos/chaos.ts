import { ringProblem } from '../cluster';
import { underReplicated } from '../replicas';
import type { ChaosPod, Killer } from './killers';
import { seededRandom } from './rng';
import { type FailedOperation, Workload } from './workload';

export interface ChaosOptions {
  durationS: number;
  killEveryS: number;
  /** Pods killed at each kill. */
  killCount: number;
  /** Kill `killCount` pods that are neighbours on the ring, rather than random ones. */
  adjacent: boolean;
  seed: number;
  workers: number;
  requestDeadlineMs: number;
  replicas: number;
  leafSetSize: number;
  /** After the chaos, how long the ring may take to recover before the final check. */
  settleS: number;
  /** Polled while the chaos runs: true ends it early, and the checks run as at the end. */
  stopRequested?: () => boolean;
}

export interface ChaosReport {
  acknowledged: number;
  lost: number;
  unexpected: number;
  availability: number;
  kills: number;
  recoverySeconds: (number | null)[];
  operations: { ok: number; failed: number; retries: number };
  /** Seconds from the last kill until every leaf set was correct again. */
  leafSetsCorrectAfterS: number | null;
  /** Seconds from the last kill until every object had its k replicas again. */
  fullyReplicatedAfterS: number | null;
  recoveredUnacknowledged: number;
  lostKeys: string[];
  unexpectedKeys: string[];
  killed: string[][];
  /** Seconds from the start of the workload to each kill. */
  killedAtS: number[];
  /** The first failed operations (up to 50), with the entry, timing and error of each attempt. */
  failures: FailedOperation[];
}

/** Ring health at one instant: leaf sets, and the replicas of every acknowledged object. */
async function health(killer: Killer, workload: Workload, o: ChaosOptions): Promise<{ leafSets: boolean; replicas: boolean }> {
  // Health of the ring as it is now: a pod that is down has been repaired around.
  const live = await killer.livePods();
  const leafSets = (await ringProblem(live, o.leafSetSize)) === '';
  if (!leafSets) return { leafSets, replicas: false };
  try {
    return { leafSets, replicas: (await underReplicated(live, workload.guids(), o.replicas)).length === 0 };
  } catch {
    return { leafSets, replicas: false };
  }
}

function pickVictims(live: ChaosPod[], o: ChaosOptions, random: () => number): ChaosPod[] {
  const count = Math.min(o.killCount, live.length - 1);
  if (count <= 0) return [];
  if (o.adjacent) {
    const ring = [...live].sort((a, b) => (a.id < b.id ? -1 : 1));
    const start = Math.floor(random() * ring.length);
    return Array.from({ length: count }, (_, i) => ring[(start + i) % ring.length]!);
  }
  const pool = [...live];
  return Array.from({ length: count }, () => pool.splice(Math.floor(random() * pool.length), 1)[0]!);
}

/**
 * Jepsen-style: a workload of unique writes and reads runs while pods are killed; at the end
 * every acknowledged write must read back (lost), nothing read may be other than written
 * (unexpected), and each kill's recovery time is measured until leaf sets and replicas are
 * whole again.
 */
export async function runChaos(killer: Killer, o: ChaosOptions, progress: (line: string, final?: boolean) => void): Promise<ChaosReport> {
  const random = seededRandom(o.seed);
  const workload = new Workload(o.seed, seededRandom(o.seed ^ 0x5eed), o.requestDeadlineMs);
  workload.setEntries(await killer.livePods());
  const start = Date.now();
  const end = start + o.durationS * 1000;
  let stopped = false;
  const killTimes: number[] = [];
  const recovered: (number | null)[] = [];
  const killed: string[][] = [];
  let leafSetsAt: number | null = null;
  let replicatedAt: number | null = null;

  const refresh = setInterval(() => void killer.livePods().then((p) => workload.setEntries(p), () => undefined), 1000);
  const running = workload.run(o.workers, () => stopped);
  // A first round of writes before the first kill.
  let nextKill = start + Math.min(o.killEveryS * 1000, o.durationS * 500);
  let checking = false;
  const monitor = setInterval(() => {
    if (checking || killTimes.length === 0) return;
    checking = true;
    void health(killer, workload, o)
      .then((h) => {
        const now = Date.now();
        if (h.leafSets && h.replicas) for (let i = 0; i < killTimes.length; i++) if (recovered[i] === null) recovered[i] = (now - killTimes[i]!) / 1000;
        const last = killTimes[killTimes.length - 1]!;
        if (h.leafSets && leafSetsAt === null) leafSetsAt = (now - last) / 1000;
        if (h.leafSets && h.replicas && replicatedAt === null) replicatedAt = (now - last) / 1000;
      })
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, 1000);

  try {
    while (Date.now() < end && !o.stopRequested?.()) {
      if (Date.now() >= nextKill) {
        const victims = pickVictims(await killer.livePods(), o, random);
        if (victims.length > 0) {
          await killer.kill(victims);
          killTimes.push(Date.now());
          recovered.push(null);
          killed.push(victims.map((v) => v.name));
          leafSetsAt = null;
          replicatedAt = null;
        }
        nextKill += o.killEveryS * 1000;
      }
      const { ok, failed } = workload.stats;
      const elapsed = (Date.now() - start) / 1000;
      progress(bar(elapsed / o.durationS) + ` ${elapsed.toFixed(0)}/${o.durationS}s  kills ${killTimes.length}  acknowledged ${workload.acknowledged.size}  availability ${pct(ok, failed)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    stopped = true;
    await running;
    workload.counting = false;
    await killer.restartAll();
    // Let the ring recover, then check what survived.
    const settleEnd = Date.now() + o.settleS * 1000;
    while (Date.now() < settleEnd && (replicatedAt === null || recovered.some((r) => r === null)) && killTimes.length > 0) {
      progress(`recovering… ${((settleEnd - Date.now()) / 1000).toFixed(0)} s left`);
      await new Promise((r) => setTimeout(r, 500));
    }
    clearInterval(monitor);
    workload.setEntries(await killer.livePods());
    progress('reading everything back…');
    const { lost, unexpected, recoveredUnacknowledged } = await workload.verify();
    const { ok, failed, retries } = workload.stats;
    progress('', true);
    return {
      acknowledged: workload.acknowledged.size,
      lost: lost.length,
      unexpected: unexpected.length,
      availability: ok + failed === 0 ? 1 : ok / (ok + failed),
      kills: killTimes.length,
      recoverySeconds: recovered,
      operations: { ok, failed, retries },
      leafSetsCorrectAfterS: leafSetsAt,
      fullyReplicatedAfterS: replicatedAt,
      recoveredUnacknowledged,
      lostKeys: lost.slice(0, 100),
      unexpectedKeys: unexpected.slice(0, 100),
      killed,
      killedAtS: killTimes.map((t) => Math.round(t - workload.startedAt) / 1000),
      failures: workload.stats.failures,
    };
  } finally {
    stopped = true;
    clearInterval(monitor);
    clearInterval(refresh);
    workload.close();
  }
}

function bar(fraction: number, width = 24): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '[' + '#'.repeat(filled) + '.'.repeat(width - filled) + ']';
}

function pct(ok: number, failed: number): string {
  return ok + failed === 0 ? '-' : `${((100 * ok) / (ok + failed)).toFixed(2)}%`;
}

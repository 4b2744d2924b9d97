import { readState } from '../cluster';
import type { Io } from '../commands';
import { UsageError } from '../commands';
import { table } from '../format';
import { runChaos, type ChaosOptions } from './chaos';
import { KubectlKiller, LocalKiller, type Killer } from './killers';

export interface ChaosArgs {
  duration: string;
  killEvery: string;
  killCount: string;
  seed: string;
  workers: string;
  restartAfter: string;
  killer: string;
  release: string;
  namespace: string;
  withSidecar: boolean;
  adjacent: boolean;
  runDir: string;
  json: boolean;
}

function number(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} needs a number >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** `pastry chaos`: kills pods under a workload and reports what was lost. Exit 1 on any loss. */
export async function chaosCommand(a: ChaosArgs, io: Io, progressOut: NodeJS.WriteStream = process.stderr): Promise<number> {
  let killer: Killer;
  let leafSetSize = 16;
  if (a.killer === 'local') {
    const state = readState(a.runDir);
    if (!state) throw new UsageError(`no local ring in ${a.runDir}: start one with \`pastry cluster up\` (or use --killer kubectl)`);
    leafSetSize = state.leafSetSize;
    killer = new LocalKiller(a.runDir, number(a.restartAfter, '--restart-after', 0) * 1000, a.withSidecar);
  } else if (a.killer === 'kubectl') {
    killer = new KubectlKiller(a.release, a.namespace, 7000);
  } else throw new UsageError(`--killer must be local or kubectl, got ${JSON.stringify(a.killer)}`);
  // The first SIGINT or SIGTERM ends the chaos early: the ring settles and everything is read
  // back as at the end of --duration (a second one exits at once).
  let stopRequested = false;
  const options: ChaosOptions = {
    durationS: number(a.duration, '--duration', 1),
    killEveryS: number(a.killEvery, '--kill-every', 0.5),
    // 0: the workload and its loss check only, e.g. while a rollout restart replaces the pods.
    killCount: number(a.killCount, '--kill-count', 0),
    adjacent: a.adjacent,
    seed: number(a.seed, '--seed', 0),
    workers: number(a.workers, '--workers', 1),
    requestDeadlineMs: 5000,
    replicas: Number(process.env.PASTRY_REPLICAS ?? 3),
    leafSetSize,
    settleS: 90,
    stopRequested: () => stopRequested,
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    progressOut.write(`\n${signal}: stopping the chaos; checking what survived (again to quit at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = progressOut.isTTY === true;
  let lastPrinted = 0;
  const progress = (line: string, final = false): void => {
    if (tty) progressOut.write(`\r\x1b[K${line}${final ? '' : ''}`);
    else if (line && Date.now() - lastPrinted > 10_000) {
      progressOut.write(line + '\n');
      lastPrinted = Date.now();
    }
  };
  let r;
  try {
    r = await runChaos(killer, options, progress);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (a.json) {
    io.out(JSON.stringify(r));
  } else {
    const recovery = r.recoverySeconds.filter((x): x is number => x !== null).sort((x, y) => x - y);
    const q = (p: number) => (recovery.length ? recovery[Math.min(recovery.length - 1, Math.floor(p * recovery.length))]!.toFixed(1) + ' s' : '-');
    io.out(
      table(
        ['result', 'value'],
        [
          ['acknowledged writes', r.acknowledged],
          ['lost (acknowledged, not readable)', r.lost],
          ['unexpected (read, never written)', r.unexpected],
          ['availability during chaos', `${(r.availability * 100).toFixed(3)}% (${r.operations.ok} ok, ${r.operations.failed} failed, ${r.operations.retries} retries)`],
          ['kills', `${r.kills} (${r.killed.map((k) => k.join('+')).join(', ')})`],
          ['recovery after a kill: median / p90 / max', `${q(0.5)} / ${q(0.9)} / ${recovery.length ? recovery[recovery.length - 1]!.toFixed(1) + ' s' : '-'}${r.recoverySeconds.includes(null) ? ` (${r.recoverySeconds.filter((x) => x === null).length} never)` : ''}`],
          ['leaf sets correct after the last kill', r.leafSetsCorrectAfterS === null ? 'never' : `${r.leafSetsCorrectAfterS.toFixed(1)} s`],
          ['k replicas again after the last kill', r.fullyReplicatedAfterS === null ? 'never' : `${r.fullyReplicatedAfterS.toFixed(1)} s`],
        ],
      ),
    );
    if (r.lost > 0) io.out(`lost keys (first ${r.lostKeys.length}): ${r.lostKeys.join(' ')}`);
    if (r.unexpected > 0) io.out(`unexpected keys: ${r.unexpectedKeys.join(' ')}`);
  }
  return r.lost > 0 || r.unexpected > 0 ? 1 : 0;
}

/**
 * Idle CPU of a ring over time: starts a local ring, leaves it alone, and prints each node's
 * CPU (user + system, every thread, from /proc) per window, as % of a core: mean, median and
 * max over the nodes. The first minutes are mostly V8 compiling code as it turns hot, so the
 * figure falls for about ten minutes; the last windows are the steady state.
 *
 *   node dist/bench/idle.js [--nodes 16] [--minutes 12] [--window-seconds 60] [--storage memory|redis]
 *
 * Loopback only (127.0.44.x); the ring is stopped at the end, also on an error or Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clusterDown, clusterUp, type ClusterOptions } from '../services/cli/src/cluster';
import { cpuSecondsOf } from './proc';
import { flag } from './args';

function positive(name: string, fallback: string): number {
  const value = Number(flag(name, fallback));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${flag(name, fallback)}`);
  return value;
}

const fmt = (x: number): string => x.toFixed(2);

async function main(): Promise<void> {
  const nodes = Math.floor(positive('nodes', '16'));
  const minutes = positive('minutes', '12');
  const windowSeconds = positive('window-seconds', '60');
  const storage = flag('storage', 'memory');
  if (storage !== 'memory' && storage !== 'redis') throw new Error(`--storage is memory or redis, got ${storage}`);
  const work = mkdtempSync(path.join(tmpdir(), 'pastry-bench-idle-'));
  const runDir = path.join(work, 'ring');
  const options: ClusterOptions = { runDir, port: 7000, metricsPort: 9810, storage, subnet: '127.0.44' };
  const stopAll = async (): Promise<void> => {
    await clusterDown(runDir, 5000).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const state = await clusterUp(nodes, options, 120_000, { ...process.env, PASTRY_LOG_LEVEL: 'warn' });
    const pids = state.pods.map((p) => p.pid);
    const started = Date.now();
    console.log(`idle CPU: ${nodes} nodes, ${storage} store, ${windowSeconds}-s windows for ${minutes} min after ready; % of a core per node process`);
    console.log('\n| window (s after ready) | mean % | median % | max % |');
    console.log('|---|---|---|---|');
    const windows = Math.max(1, Math.floor((minutes * 60) / windowSeconds));
    for (let w = 0; w < windows; w++) {
      const before = pids.map((p) => cpuSecondsOf(p));
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, windowSeconds * 1000));
      const seconds = (performance.now() - t0) / 1000;
      const pct = pids.map((p, i) => ((cpuSecondsOf(p) - before[i]!) / seconds) * 100).sort((a, b) => a - b);
      const mean = pct.reduce((a, b) => a + b, 0) / pct.length;
      const at = Math.round((Date.now() - started) / 1000);
      console.log(`| ${at - Math.round(seconds)}–${at} | ${fmt(mean)} | ${fmt(pct[Math.floor(pct.length / 2)]!)} | ${fmt(pct[pct.length - 1]!)} |`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  console.error(`bench-idle: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CLUSTER, clusterDown, clusterUp, readState, type ClusterOptions, type ClusterState } from '../../services/cli/src/cluster';

export interface TestRing {
  options: ClusterOptions;
  env: NodeJS.ProcessEnv;
  state(): ClusterState;
  /** Scales up to n pods and waits for convergence. */
  up(n: number, timeoutMs?: number): Promise<ClusterState>;
  down(): Promise<void>;
}

/** A local ring of real node processes on its own loopback subnet, in a temporary run dir. */
export async function startRing(nodes: number, subnet: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000, extra: Partial<ClusterOptions> = {}): Promise<TestRing> {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-test-'));
  const options: ClusterOptions = { ...DEFAULT_CLUSTER, runDir, subnet, port: 7000, storage: env.PASTRY_STORE ?? 'memory', ...extra };
  const nodeEnv = { ...process.env, PASTRY_MAINTENANCE_INTERVAL_MS: '500', PASTRY_RPC_TIMEOUT_MS: '1500', PASTRY_LOG_LEVEL: process.env.PASTRY_TEST_LOG_LEVEL ?? 'warn', ...env };
  const ring: TestRing = {
    options,
    env: nodeEnv,
    state: () => readState(runDir)!,
    up: (n, t = timeoutMs) => clusterUp(n, options, t, nodeEnv),
    down: async () => {
      await clusterDown(runDir, 5000);
      // PASTRY_TEST_KEEP_RUN_DIR=1 keeps the per-pod logs for a post-mortem.
      if (process.env.PASTRY_TEST_KEEP_RUN_DIR) process.stdout.write(`run directory kept: ${runDir}\n`);
      else rmSync(runDir, { recursive: true, force: true });
    },
  };
  try {
    await ring.up(nodes);
  } catch (error) {
    await ring.down();
    throw error;
  }
  return ring;
}

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { networkFor, reclaimAbandonedRings, teardownNetwork, type NetnsNetwork } from '../../services/cli/src/netns/network';
import { CLI } from './tools';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A run directory for a `--netns` ring, the CLI bound to it, and a cleanup that leaves nothing behind. */
export interface NetnsRun {
  runDir: string;
  network: NetnsNetwork;
  pastry(...args: string[]): Promise<CliResult>;
  /** Stops the pods, then removes this run's namespaces, bridge and guard, whatever failed before. */
  cleanup(): Promise<void>;
}

export function netnsRun(prefix: string, subnet: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): NetnsRun {
  const runDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const network = networkFor(runDir, subnet);
  const pastry = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      // What a killed earlier run left on this subnet is not this test's business (`up` would say so on stderr).
      if (args[0] === 'cluster' && args[1] === 'up') reclaimAbandonedRings(subnet);
      execFile(process.execPath, [CLI, ...args, '--run-dir', runDir], { env: { ...process.env, PASTRY_LOG_LEVEL: 'warn', ...env }, timeout: timeoutMs }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const cleanup = async (): Promise<void> => {
    await pastry('cluster', 'down');
    teardownNetwork(network);
    rmSync(runDir, { recursive: true, force: true });
  };
  return { runDir, network, pastry, cleanup };
}

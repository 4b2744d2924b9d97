import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterDown, isRunning, readState, waitForExit } from '../../services/cli/src/cluster';
import { CLI } from '../helpers/tools';

jest.setTimeout(120_000);

/** `make run` is `pastry demo`: it must stay up after the demo and stop every pod on Ctrl-C. */
describe('pastry demo (make run)', () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-demo-'));
  let child: ChildProcess | undefined;
  let stdout = '';

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await clusterDown(runDir, 5000);
    rmSync(runDir, { recursive: true, force: true });
  });

  it('stays up until SIGINT, then stops every pod and exits 0', async () => {
    child = spawn(process.execPath, [CLI, 'demo', '--nodes', '3', '--subnet', '127.0.23', '--run-dir', runDir], {
      env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    const deadline = Date.now() + 90_000;
    while (!stdout.includes('Ctrl-C stops it.') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(stdout).toContain('Ctrl-C stops it.');
    expect(stdout).not.toContain('MISMATCH');

    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull();
    const pids = readState(runDir)!.pods.map((p) => p.pid);
    expect(pids).toHaveLength(3);
    expect(pids.filter((pid) => isRunning(pid))).toHaveLength(3);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain('stopping the ring');
    expect(await waitForExit(pids, 10_000)).toEqual([]);
  });
});

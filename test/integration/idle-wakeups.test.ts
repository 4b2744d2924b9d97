import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const METRICS = path.resolve(__dirname, '../../dist/services/node/src/telemetry/metrics.js');

/** Voluntary context switches of a process's main thread: each is the event loop going to sleep. */
function mainThreadSwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
}

describe('an idle process with the node\'s metrics', () => {
  it('is not woken every 10 ms by the event-loop lag monitor', async () => {
    // prom-client samples event-loop delay every 10 ms unless told otherwise: 100 wake-ups a
    // second on every idle node.
    const child = spawn(process.execPath, ['-e', `const { PastryMetrics } = require(${JSON.stringify(METRICS)}); new PastryMetrics('a'.repeat(32)); setTimeout(() => undefined, 10_000); process.stdout.write('up\\n');`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      await new Promise((r) => setTimeout(r, 500));
      const before = mainThreadSwitches(child.pid!);
      await new Promise((r) => setTimeout(r, 2000));
      const perSecond = (mainThreadSwitches(child.pid!) - before) / 2;
      expect(perSecond).toBeLessThan(30);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

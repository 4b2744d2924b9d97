import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Compute } from '../compute/compute';
import { labelledTotalCounter, totalCounter } from './file-metrics';

/** Computing's metrics, read from the application's running totals on every scrape. */
export function watchCompute(registry: Registry, compute: Compute): void {
  const { stats, sandbox } = compute;
  totalCounter(registry, 'pastry_compute_units_total', 'Work units this node ran to their end (failed ones too).', () => stats.ran.ok + stats.ran.failed);
  totalCounter(registry, 'pastry_compute_units_failed_total', 'Work units this node ran that failed: a trap, their time or memory limit, an abort.', () => stats.ran.failed);
  labelledTotalCounter(
    registry,
    'pastry_compute_units_retried_total',
    "Work unit runs this node's jobs sent again, by cause: rerouted (a hop on the unit's route failed and the overlay sent it on to the next closest node), timeout or unavailable (an attempt ended so, and a new one was sent).",
    'cause',
    () => stats.retried,
  );
  labelledTotalCounter(registry, 'pastry_compute_jobs_total', 'Jobs this node coordinated to their end, by state: done, failed or cancelled.', 'state', () => stats.jobs);
  new Gauge({
    name: 'pastry_compute_queue_length',
    help: 'Work units waiting for a sandbox slot on this node (PASTRY_COMPUTE_QUEUE bounds them).',
    registers: [registry],
    collect() {
      this.set(sandbox.stats.queued);
    },
  });
  new Gauge({
    name: 'pastry_compute_units_running',
    help: 'Work units running on this node (PASTRY_COMPUTE_SLOTS bounds them).',
    registers: [registry],
    collect() {
      this.set(sandbox.stats.running);
    },
  });
  new Histogram({
    name: 'pastry_compute_unit_seconds',
    help: 'Time a work unit ran on this node, from its start in a sandbox slot (its wait in the queue not counted).',
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [registry],
    collect() {
      for (const s of stats.durations.splice(0)) this.observe(s);
    },
  });
}

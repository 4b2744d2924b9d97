/**
 * Storage at scale on a local ring (`make bench-storage`): loads N objects straight onto
 * their k replicas, then measures idle CPU and memory per node, a graceful leave, and the
 * repair of a node killed and restarted empty, checking object by object that every object
 * is on its k live replicas.
 *
 *   node dist/bench/storage-scale.js [--objects 300000] [--nodes 4] [--storage memory|redis]
 *        [--value-bytes 64] [--idle-seconds 20] [--timeout-seconds 1800]
 */
import { runStorageScale, stopRunning } from './storage-scale-lib';
import { flag } from './args';

async function main(): Promise<void> {
  const o = {
    objects: Number(flag('objects', '300000')),
    nodes: Number(flag('nodes', '4')),
    storage: flag('storage', 'memory'),
    valueBytes: Number(flag('value-bytes', '64')),
    idleSeconds: Number(flag('idle-seconds', '20')),
    timeoutMs: Number(flag('timeout-seconds', '1800')) * 1000,
    subnet: '127.0.41',
    port: 7300,
    metricsPort: 9700,
  };
  const started = Date.now();
  // Interrupted, the run would otherwise leave its pods and Redis servers behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopRunning().then(() => process.exit(130)));
  const r = await runStorageScale(o, (line) => process.stderr.write(`  ${line}\n`));
  const rows: [string, string][] = [
    ['load (StoreReplicas, objects/s)', r.loadPerSecond.toFixed(0)],
    [`idle CPU per node, ${o.idleSeconds} s (share of a core)`, r.idleCpu.map((c) => `${(c * 100).toFixed(1)}%`).join(' ')],
    ['node RSS growth per stored object (bytes, beyond the value)', r.rssPerObject.map((b) => b.toFixed(0)).join(' ')],
    [`graceful leave of the fullest node, ${r.leave.held} objects (SIGTERM to exit, s)`, r.leave.seconds.toFixed(1)],
    ['  objects short of k live replicas after it (counted)', `${r.leave.short}${r.leave.settled ? '' : ' (counts never settled)'}`],
    ['kill -9 and restart empty: time until every count is whole (s)', r.restart.refilled ? r.restart.seconds.toFixed(1) : `not within ${o.timeoutMs / 1000}`],
    ['  objects repaired per second', r.restart.repairedPerSecond.toFixed(0)],
    ['  objects short of k replicas after it (counted)', String(r.restart.short)],
  ];
  console.log(`\nstorage at scale: ${o.nodes} nodes, ${o.storage} store, ${o.objects} objects of ${o.valueBytes} bytes, k = 3 (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  const width = Math.max(...rows.map((x) => x[0].length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

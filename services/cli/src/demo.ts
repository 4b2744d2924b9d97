import { randomBytes } from 'node:crypto';
import { clusterDown, clusterUp, type ClusterOptions } from './cluster';
import { PastryClient, nodeView } from './client';
import { idFromBytes } from '../../node/src/core/id';
import type { Io } from './commands';
import { podStatuses } from './cluster-command';
import { table } from './format';

/** `make run`: a local ring, a few puts and gets with their hop paths, then up until Ctrl-C. */
export async function demoCommand(nodes: number, options: ClusterOptions, timeoutMs: number, io: Io): Promise<number> {
  const runDir = options.runDir;
  io.out(`starting a local ring of ${nodes} nodes (in-memory store)...`);
  const started = Date.now();
  const state = await clusterUp(nodes, options, timeoutMs);
  io.out(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  io.out(table(['name', 'address', 'id', 'pid', 'ready'], (await podStatuses(runDir)).map((p) => [p.name, p.address, p.id, p.pid, p.ready])));
  const entry = state.pods[0]!.address;
  const client = new PastryClient(entry);
  const rows: string[][] = [];
  try {
    const objects: [string, Buffer][] = [
      ['greeting', Buffer.from('hello, ring')],
      ['config/app.json', Buffer.from('{"replicas":3}')],
      ['users/42', Buffer.from('Ada Lovelace')],
      ['', randomBytes(32)],
    ];
    for (const [name, value] of objects) {
      const put = await client.put(name, value);
      const guid = idFromBytes(put.guid);
      const got = await client.get(guid);
      const ok = got.value.equals(value);
      rows.push([name || '(content-addressed)', guid, `${entry} → ${put.hops.map((h) => nodeView(h).name).join(' → ') || '(entry is root)'}`, ok ? 'ok' : 'MISMATCH']);
    }
  } finally {
    client.close();
  }
  io.out('\nput then get through ' + entry + ':');
  io.out(table(['name', 'GUID', 'hop path of the put', 'get'], rows));
  io.out(`\nthe ring stays up; try:\n  npx pastry route greeting\n  npx pastry ring\n  npx pastry get greeting\nCtrl-C stops it.`);
  await new Promise<void>((resolve) => {
    // Signal listeners alone do not keep Node running: without this timer the command would
    // return at once and leave the pods behind.
    const keepAlive = setInterval(() => undefined, 60_000);
    const stop = (): void => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.out('\nstopping the ring...');
  await clusterDown(runDir);
  return 0;
}

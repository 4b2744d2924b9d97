import type { IdScheme } from '../../node/src/node-id';
import { DEFAULT_CLUSTER, clusterDown, clusterUp, isRunning, readState, restartSidecar, signalPod, signalSidecar, startPod, waitForExit, type ClusterOptions } from './cluster';
import { PastryClient } from './client';
import { table } from './format';
import type { Io } from './commands';
import { UsageError } from './commands';
import { partitionView } from './netns/faults';
import { netnsCommand } from './netns/netns-command';

export interface PodStatus {
  name: string;
  address: string;
  id: string;
  pid: number;
  ready: boolean;
  /** With --netns only: the pod's namespace, address, partition sides, the pods it is cut from, its delay. */
  netns?: string;
  host?: string;
  partition?: string[];
  cutFrom?: string[];
  delayMs?: number;
}

export async function podStatuses(runDir: string): Promise<PodStatus[]> {
  const state = readState(runDir);
  if (!state) return [];
  const cuts = state.network ? partitionView(state.pods, state.network.partitions) : undefined;
  return Promise.all(
    state.pods.map(async (p) => {
      let ready = false;
      if (isRunning(p.pid)) {
        const c = new PastryClient(p.address, 1500);
        try {
          ready = (await c.status(1500)).ready;
        } catch {
          ready = false;
        } finally {
          c.close();
        }
      }
      const status: PodStatus = { name: p.name, address: p.address, id: p.id, pid: isRunning(p.pid) ? p.pid : 0, ready };
      if (!cuts) return status;
      const cut = cuts.get(p.name)!;
      return { ...status, netns: p.netns ?? '', host: p.host, partition: cut.groups, cutFrom: cut.cutFrom, delayMs: p.delay?.ms ?? 0 };
    }),
  );
}

function printPods(pods: PodStatus[], json: boolean, io: Io): void {
  if (json) io.out(JSON.stringify({ pods }));
  else if (pods.some((p) => p.netns !== undefined))
    io.out(
      table(
        ['name', 'address', 'id', 'pid', 'ready', 'netns', 'partition', 'delay'],
        pods.map((p) => [p.name, p.address, p.id, p.pid || '-', p.ready, p.netns!, p.partition!.join(',') || '-', p.delayMs ? `${p.delayMs} ms` : '-']),
      ),
    );
  else io.out(table(['name', 'address', 'id', 'pid', 'ready'], pods.map((p) => [p.name, p.address, p.id, p.pid || '-', p.ready])));
}

export async function clusterCommand(
  sub: string | undefined,
  rest: string[],
  opts: { nodes: number; json: boolean; runDir: string; timeoutMs: number; storage: string; subnet: string; withSidecar: boolean; netns?: boolean; from?: string; idScheme?: string },
  io: Io,
): Promise<number> {
  const options: ClusterOptions = { ...DEFAULT_CLUSTER, runDir: opts.runDir, storage: opts.storage, subnet: opts.subnet, netns: opts.netns ?? false, ...(opts.idScheme ? { idScheme: opts.idScheme as IdScheme } : {}) };
  switch (sub) {
    case 'partition':
    case 'heal':
    case 'delay':
      return netnsCommand(sub, rest, opts, io);
    case 'up': {
      const started = Date.now();
      await clusterUp(opts.nodes, options, opts.timeoutMs);
      const pods = await podStatuses(opts.runDir);
      if (!opts.json) io.out(`ring of ${pods.filter((p) => p.pid).length} pods ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      printPods(pods, opts.json, io);
      return 0;
    }
    case 'status': {
      const pods = await podStatuses(opts.runDir);
      if (pods.length === 0 && !opts.json) io.out(`no local ring in ${opts.runDir}`);
      else printPods(pods, opts.json, io);
      return 0;
    }
    case 'down': {
      const n = await clusterDown(opts.runDir);
      if (!opts.json) io.out(`stopped ${n} pods`);
      else io.out(JSON.stringify({ stopped: n }));
      return 0;
    }
    case 'stop':
    case 'kill': {
      const name = rest[0];
      if (!name) throw new UsageError(`usage: pastry cluster ${sub} <pod>`);
      const pod = signalPod(opts.runDir, name, sub === 'stop' ? 'SIGTERM' : 'SIGKILL', opts.withSidecar);
      const left = await waitForExit([pod.pid], opts.timeoutMs);
      if (left.length > 0) throw new Error(`${name} (pid ${pod.pid}) is still running`);
      if (!opts.json) io.out(`${sub === 'stop' ? 'stopped' : 'killed'} ${name}`);
      return 0;
    }
    case 'kill-sidecar':
    case 'start-sidecar': {
      const name = rest[0];
      if (!name) throw new UsageError(`usage: pastry cluster ${sub} <pod>`);
      if (sub === 'kill-sidecar') signalSidecar(opts.runDir, name, 'SIGKILL');
      else restartSidecar(opts.runDir, name);
      if (!opts.json) io.out(`${sub === 'kill-sidecar' ? 'killed' : 'started'} the Redis sidecar of ${name}`);
      return 0;
    }
    case 'start': {
      const name = rest[0];
      const state = readState(opts.runDir);
      const pod = state?.pods.find((p) => p.name === name);
      if (!state || !pod) throw new UsageError(`usage: pastry cluster start <pod> (a pod of the running ring)`);
      if (isRunning(pod.pid)) throw new Error(`${name} is already running (pid ${pod.pid})`);
      startPod(state, pod.ordinal, options);
      if (!opts.json) io.out(`started ${name}`);
      return 0;
    }
    default:
      throw new UsageError(
        'usage: pastry cluster up|status|down|stop <pod>|kill <pod>|start <pod>|kill-sidecar <pod>|start-sidecar <pod>|partition <pods> [--from <pods>]|heal|delay <pods> <ms> [--nodes N] [--netns] [--storage memory|redis] [--id-scheme name|spread] [--run-dir DIR] [--json]',
      );
  }
}

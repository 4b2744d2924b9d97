import path from 'node:path';
import { readState, writeState, type ClusterState, type Pod } from '../cluster';
import type { Io } from '../commands';
import { UsageError } from '../commands';
import { cutBetween, healAll, setDelay } from './faults';
import { checkNetnsPrerequisites } from './network';
import { parsePodList } from './pod-list';

/** The ring in runDir, which must be a --netns ring: partitions and delays need namespaces. */
function netnsRing(runDir: string, sub: string): ClusterState & { network: NonNullable<ClusterState['network']> } {
  const state = readState(runDir);
  if (!state) throw new Error(`no local ring in ${runDir}`);
  if (state.mode !== 'netns' || !state.network) throw new Error(`cluster ${sub} needs a ring started with \`pastry cluster up --netns\`; the ring in ${runDir} runs in ${state.mode} mode`);
  checkNetnsPrerequisites();
  return state as ClusterState & { network: NonNullable<ClusterState['network']> };
}

function podsNamed(state: ClusterState, names: string[]): Pod[] {
  return names.map((n) => state.pods.find((p) => p.name === n)!);
}

/** `cluster partition|heal|delay`: faults between the pods of a --netns ring. */
export async function netnsCommand(sub: 'partition' | 'heal' | 'delay', rest: string[], opts: { runDir: string; json: boolean; from?: string }, io: Io): Promise<number> {
  switch (sub) {
    case 'partition': {
      if (!rest[0]) throw new UsageError('usage: pastry cluster partition <pods> [--from <pods>]  (pods: 0,1 or 0-3 or pastry-0,pastry-3)');
      const state = netnsRing(opts.runDir, sub);
      const group = parsePodList(rest[0], state.pods);
      const from = opts.from === undefined ? state.pods.map((p) => p.name).filter((n) => !group.includes(n)) : parsePodList(opts.from, state.pods);
      const both = group.filter((n) => from.includes(n));
      if (both.length > 0) throw new Error(`${both.join(', ')} cannot be on both sides of a partition`);
      if (from.length === 0) throw new Error('nothing to cut from: the other side of the partition is empty');
      const killed = cutBetween(podsNamed(state, group), podsNamed(state, from));
      state.network.partitions.push({ pods: group, from });
      writeState(opts.runDir, state);
      if (opts.json) io.out(JSON.stringify({ partition: { pods: group, from }, connectionsKilled: killed }));
      else io.out(`cut ${group.join(',')} from ${from.join(',')}${killed ? '' : ' (open connections could not be killed with ss -K: only new packets are dropped)'}`);
      return 0;
    }
    case 'heal': {
      const state = netnsRing(opts.runDir, sub);
      healAll(state.pods);
      const healed = state.network.partitions.length;
      state.network.partitions = [];
      writeState(opts.runDir, state);
      if (opts.json) io.out(JSON.stringify({ healed }));
      else io.out(`removed ${healed} partition${healed === 1 ? '' : 's'}`);
      return 0;
    }
    case 'delay': {
      const usage = 'usage: pastry cluster delay <pods> <ms>  (0 removes the delay)';
      if (!rest[0] || rest[1] === undefined) throw new UsageError(usage);
      if (!/^\d+$/.test(rest[1]) || Number(rest[1]) > 60_000) throw new UsageError(`the delay must be whole milliseconds from 0 to 60000, got ${JSON.stringify(rest[1])}`);
      const ms = Number(rest[1]);
      const state = netnsRing(opts.runDir, sub);
      const pods = podsNamed(state, parsePodList(rest[0], state.pods));
      const via = new Set<string>();
      try {
        for (const pod of pods) {
          const delay = await setDelay(pod, ms, path.join(opts.runDir, 'logs'));
          if (delay) via.add(delay.via);
        }
      } finally {
        writeState(opts.runDir, state);
      }
      if (opts.json) io.out(JSON.stringify({ pods: pods.map((p) => p.name), delayMs: ms, via: [...via] }));
      else io.out(ms === 0 ? `removed the delay of ${pods.map((p) => p.name).join(',')}` : `delayed what ${pods.map((p) => p.name).join(',')} send by ${ms} ms (${[...via].join(', ')})`);
      return 0;
    }
  }
}

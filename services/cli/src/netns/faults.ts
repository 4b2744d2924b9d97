import path from 'node:path';
import { startDelayer } from './delayer';
import { iptables, run, which } from './exec';
import { DELAY_CHAIN, PARTITION_CHAIN, POD_INTERFACE, type Partition } from './network';

/** What the faults need of a pod of a --netns ring. */
export interface NetnsPod {
  name: string;
  host: string;
  netns?: string;
  delay?: PodDelay;
}

export interface PodDelay {
  ms: number;
  /** netem where the kernel has it; else the NFQUEUE helper, with its pid. */
  via: 'netem' | 'nfqueue';
  pid?: number;
}

const DELAY_QUEUE = 0;

function nsOf(pod: NetnsPod): string {
  if (!pod.netns) throw new Error(`${pod.name} has no network namespace`);
  return pod.netns;
}

/**
 * Cuts `group` from `others`: inside each side's namespace, DROP in and out to the other
 * side's addresses (the host, on the bridge address, still reaches every pod), then ends
 * the connections already open between them with `ss -K`. Returns whether ss -K worked.
 */
export function cutBetween(group: NetnsPod[], others: NetnsPod[]): boolean {
  let killed = true;
  for (const [side, far] of [[group, others], [others, group]] as const) {
    const addresses = far.map((p) => p.host).join(',');
    const filter = ['(', ...far.flatMap((p, i) => (i === 0 ? ['dst', p.host] : ['or', 'dst', p.host])), ')'];
    for (const pod of side) {
      const ns = nsOf(pod);
      iptables(ns, ['-A', PARTITION_CHAIN, '-s', addresses, '-j', 'DROP']);
      iptables(ns, ['-A', PARTITION_CHAIN, '-d', addresses, '-j', 'DROP']);
      try {
        run('ip', ['netns', 'exec', ns, 'ss', '-K', '-t', ...filter]);
      } catch {
        killed = false;
      }
    }
  }
  return killed;
}

/** Removes every partition rule from every pod. */
export function healAll(pods: NetnsPod[]): void {
  for (const pod of pods) iptables(nsOf(pod), ['-F', PARTITION_CHAIN]);
}

/** Which pods each pod is cut from, and its side in each partition (`1a`: side a of the first). */
export function partitionView(pods: NetnsPod[], partitions: Partition[]): Map<string, { groups: string[]; cutFrom: string[] }> {
  const view = new Map(pods.map((p) => [p.name, { groups: [] as string[], cutFrom: [] as string[] }]));
  partitions.forEach((cut, i) => {
    for (const [side, label, far] of [[cut.pods, 'a', cut.from], [cut.from, 'b', cut.pods]] as const) {
      for (const name of side) {
        const entry = view.get(name);
        if (!entry) continue;
        entry.groups.push(`${i + 1}${label}`);
        entry.cutFrom = [...new Set([...entry.cutFrom, ...far])];
      }
    }
  });
  return view;
}

function clearDelay(pod: NetnsPod): void {
  const ns = nsOf(pod);
  run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', POD_INTERFACE, 'root'], { ignoreFailure: true });
  iptables(ns, ['-F', DELAY_CHAIN], { ignoreFailure: true });
  if (pod.delay?.pid) {
    try {
      process.kill(pod.delay.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  delete pod.delay;
}

/**
 * Delays every packet the pod sends by `ms` (0 removes the delay): `tc qdisc replace dev eth0
 * root netem delay <ms>ms` inside its namespace, or, on a kernel without netem, the NFQUEUE
 * helper holding each outgoing packet for `ms`.
 */
export async function setDelay(pod: NetnsPod, ms: number, logDir: string): Promise<PodDelay | undefined> {
  clearDelay(pod);
  if (ms === 0) return undefined;
  const ns = nsOf(pod);
  try {
    run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', POD_INTERFACE, 'root', 'netem', 'delay', `${ms}ms`]);
    pod.delay = { ms, via: 'netem' };
    return pod.delay;
  } catch (error) {
    if (!/unknown|No such file/i.test((error as Error).message)) throw error;
  }
  if (!which('python3')) throw new Error('this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM) and python3, for the user-space fallback, is missing: apt-get install python3');
  const pid = await startDelayer(ns, DELAY_QUEUE, ms, path.join(logDir, `${pod.name}-delay.log`));
  iptables(ns, ['-A', DELAY_CHAIN, '-o', POD_INTERFACE, '-j', 'NFQUEUE', '--queue-num', String(DELAY_QUEUE), '--queue-bypass']);
  pod.delay = { ms, via: 'nfqueue', pid };
  return pod.delay;
}

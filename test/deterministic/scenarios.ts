import type { DetNode, DetRing } from './ring';

/** Writes `count` named objects through random live nodes; returns how many were acknowledged. */
export async function writeMany(ring: DetRing, prefix: string, count: number, nodes: () => DetNode[] = () => ring.live()): Promise<number> {
  let acked = 0;
  for (let i = 0; i < count; i++) {
    const live = nodes();
    const via = live[ring.net.rng.int(live.length)]!;
    if (await ring.put(via, `${prefix}${i}`, `${prefix}${i}@${ring.net.now}`)) acked++;
  }
  return acked;
}

/** Routes `count` random keys from random live nodes, all at once; returns the misdeliveries. */
export async function misroutes(ring: DetRing, count: number, nodes: () => DetNode[] = () => ring.live()): Promise<string[]> {
  const live = nodes();
  const tries = Array.from({ length: count }, () => ({ key: ring.net.rng.id(), via: live[ring.net.rng.int(live.length)]! }));
  const roots = await Promise.all(tries.map(({ key, via }) => ring.routeRoot(via, key)));
  const problems: string[] = [];
  tries.forEach(({ key, via }, i) => {
    const root = roots[i]!;
    const truth = ring.trueRoot(key, live);
    if (root instanceof Error) problems.push(`${key} from ${via.handle.name}: ${root.message}`);
    else if (root !== truth.handle.id) problems.push(`${key} from ${via.handle.name}: delivered at ${root.slice(0, 8)}, root is ${truth.handle.name}`);
  });
  return problems;
}

/**
 * Picks `count` random victims such that no two are among any key's k replicas together
 * (at least k - 1 live nodes between two victims on the ring): a simultaneous crash then
 * leaves every object at least one copy, which is what k replicas promise.
 */
export function spreadVictims(ring: DetRing, count: number): DetNode[] {
  const k = ring.options.replicas;
  const ordered = [...ring.live()].sort((a, b) => (a.handle.id < b.handle.id ? -1 : 1));
  const n = ordered.length;
  const taken = new Set<number>();
  const victims: DetNode[] = [];
  for (let tries = 0; victims.length < count && tries < 100 * count; tries++) {
    const i = ring.net.rng.int(n);
    let clear = true;
    for (let d = -(k - 1); d <= k - 1; d++) if (taken.has((i + d + n) % n)) clear = false;
    if (!clear) continue;
    taken.add(i);
    victims.push(ordered[i]!);
  }
  return victims;
}

/** Fails the test with the seed that replays it. */
export function expectClean(seed: number, what: string, problems: string[]): void {
  if (problems.length > 0) throw new Error(`seed ${seed} (PASTRY_SEED=${seed} replays it): ${what}: ${problems.length} problems, e.g.\n  ${problems.slice(0, 8).join('\n  ')}`);
}

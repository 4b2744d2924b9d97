import type { World } from './world';

/**
 * Live nodes whose leaf set differs from the truth: the |L|/2 live successors and
 * predecessors on the ring. After failures and repair this must be zero, or routing can
 * deliver at the wrong node.
 */
export function leafSetMismatches(world: World): number {
  const ring = world.liveRing();
  const sorted = ring.sortedNodes();
  const n = sorted.length;
  const half = Math.min(world.config.leafSetSize / 2, n - 1);
  let wrong = 0;
  for (let p = 0; p < n; p++) {
    const expected = new Set<string>();
    for (let j = 1; j <= half; j++) {
      expected.add(world.handles[sorted[(p + j) % n]!]!.id);
      expected.add(world.handles[sorted[(((p - j) % n) + n) % n]!]!.id);
    }
    const actual = world.states[sorted[p]!]!.leafSet.members();
    if (actual.length !== expected.size || actual.some((m) => !expected.has(m.id))) wrong++;
  }
  return wrong;
}

/** Routing-table entries, over all live nodes, that point at dead nodes. */
export function deadTableEntries(world: World): number {
  let dead = 0;
  for (let i = 0; i < world.size; i++) {
    if (!world.isAlive(i)) continue;
    for (const { entry } of world.states[i]!.table.entries()) if (!world.isAlive(world.indexOf(entry.node))) dead++;
  }
  return dead;
}

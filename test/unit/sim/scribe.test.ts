import { createHash } from 'node:crypto';
import { runSimCommand } from '../../../services/sim/src/cli';
import { buildTrees, groupSizes, quantile } from '../../../services/sim/src/experiments/scribe';
import { ScribeTree, topicId } from '../../../services/sim/src/experiments/scribe-tree';
import { runLookup } from '../../../services/sim/src/lookup';
import { createScenario, DEFAULT_SCENARIO, type Scenario, type ScenarioOptions } from '../../../services/sim/src/scenario';

function scenario(options: Partial<ScenarioOptions>): Scenario {
  return createScenario({ ...DEFAULT_SCENARIO, ...options });
}

async function run(...argv: string[]): Promise<{ code: number; text: string; lines: string[] }> {
  const lines: string[] = [];
  const code = await runSimCommand(argv, (l) => lines.push(l));
  return { code, text: lines.join('\n'), lines };
}

/** Follows parent pointers from `node`; the walk must reach the root within the tree's size. */
function pathToRoot(tree: ScribeTree, node: number): number[] {
  const path = [node];
  while (path[path.length - 1] !== tree.root) {
    const parent = tree.parentOf(path[path.length - 1]!);
    if (parent === undefined) throw new Error(`node ${path[path.length - 1]} has no parent and is not the root`);
    path.push(parent);
    if (path.length > tree.size) throw new Error(`a cycle above node ${node}`);
  }
  return path;
}

function largestTable(trees: readonly ScribeTree[]): number {
  let largest = 0;
  for (const t of trees) for (const c of t.children.values()) largest = Math.max(largest, c.length);
  return largest;
}

/** Each tree's parent pointers as text, to compare two builds. */
function shape(trees: readonly ScribeTree[]): string {
  return trees.map((t) => `${t.root}:${t.members.map((m) => pathToRoot(t, m).join('>')).join(',')}`).join('\n');
}

describe('scribe topic ids and group sizes', () => {
  it('hashes a topic name as the node does: SHA-256 of the UTF-8 name, first 16 bytes', () => {
    const name = 'news/κόσμος';
    expect(topicId(name)).toBe(createHash('sha256').update(Buffer.from(name, 'utf8')).digest().subarray(0, 16).toString('hex'));
  });

  it('draws Zipf-like sizes from N down to 11, as the paper does at 100,000 nodes', () => {
    const sizes = groupSizes(100_000, 1_500, 0);
    expect(sizes[0]).toBe(100_000);
    expect(sizes[sizes.length - 1]).toBe(11);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!).toBeLessThanOrEqual(sizes[i - 1]!);
    // The paper's exponent is 1.25: the second group has about 100,000 / 2^1.25 members.
    expect(sizes[1]! / sizes[0]!).toBeCloseTo(2 ** -1.25, 2);
  });

  it('gives every group the same size with --members, and refuses more members than nodes', () => {
    expect(groupSizes(500, 3, 40)).toEqual([40, 40, 40]);
    expect(groupSizes(5, 2, 0)).toEqual([5, 5]);
    expect(() => groupSizes(100, 2, 101)).toThrow(RangeError);
  });

  it('takes the nearest-rank quantile', () => {
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(quantile([1, 2, 3], 0.5)).toBe(2);
    expect(quantile([], 0.5)).toBe(0);
  });
});

describe('scribe trees without a children cap (1,000-node oracle ring)', () => {
  const s = scenario({ nodes: 1000, seed: 7 });
  const { trees } = buildTrees(s, [...groupSizes(1000, 12, 0), 300, 300], 0);

  it('roots every tree at the numerically closest live node to the topic id', () => {
    for (const t of trees) expect(t.root).toBe(s.world.liveRing().root(t.topic));
  });

  it('connects every member to the root through the tree, without cycles', () => {
    for (const t of trees) {
      for (const m of t.members) expect(pathToRoot(t, m)[0]).toBe(m);
      const positions = t.positions();
      expect(positions.size).toBe(t.size);
      for (const [parent, children] of t.children) {
        for (const c of children) expect(t.parentOf(c)).toBe(parent);
        expect(new Set(children).size).toBe(children.length);
      }
    }
  });

  it('places each member no deeper than its Pastry route to the root is long', () => {
    let equal = 0;
    let members = 0;
    for (const t of trees) {
      const positions = t.positions();
      for (const m of t.members) {
        const route = runLookup(s.world, m, t.topic, {});
        expect(route.correct).toBe(true);
        expect(positions.get(m)!.depth).toBeLessThanOrEqual(route.hops);
        if (positions.get(m)!.depth === route.hops) equal++;
        members++;
      }
    }
    // Routing is deterministic, so the tree path is the member's own route.
    expect(equal).toBe(members);
  });

  it('delays every member at least as much as unicast from the root on the metric plane', () => {
    for (const t of trees) {
      const positions = t.positions();
      for (const m of t.members) {
        if (m === t.root) continue;
        expect(positions.get(m)!.delay).toBeGreaterThanOrEqual(s.world.model.delay(t.root, m) * (1 - 1e-9));
      }
    }
  });
});

describe('scribe trees with a children cap', () => {
  it('hands a newcomer to a full node down to the child nearest to it, recursively', () => {
    // Nodes on a line: the delay between a and b is |a - b|.
    const tree = new ScribeTree(topicId('t'), 0, 2, (a, b) => Math.abs(a - b));
    tree.adopt(0, 10);
    tree.adopt(0, 20);
    tree.adopt(0, 18); // full: goes to 20, the child nearest to 18
    tree.adopt(0, 19); // 0 full, then 20: takes it, as 20 has room for a second child
    tree.adopt(0, 17); // 0 full, 20 full (18, 19): 18 is nearest
    expect(tree.childrenOf(0)).toEqual([10, 20]);
    expect(tree.childrenOf(20)).toEqual([18, 19]);
    expect(tree.parentOf(17)).toBe(18);
    expect(tree.pushDowns).toBe(4);
    expect(() => tree.adopt(17, 20)).toThrow(/already in the tree/);
  });

  it('never gives a node more children than the cap, pushing newcomers down instead', () => {
    const s = scenario({ nodes: 1000, seed: 3 });
    const { trees } = buildTrees(s, [400, 250, 120], 4);
    expect(largestTable(trees)).toBeLessThanOrEqual(4);
    expect(trees.reduce((n, t) => n + t.pushDowns, 0)).toBeGreaterThan(0);
    for (const t of trees) {
      for (const m of t.members) expect(pathToRoot(t, m)[0]).toBe(m);
      expect(t.positions().size).toBe(t.size);
    }
  });

  it('builds connected trees on a join-built ring too', () => {
    const s = scenario({ nodes: 300, seed: 4, build: 'join' });
    const { trees } = buildTrees(s, [100, 40], 24);
    for (const t of trees) {
      expect(t.root).toBe(s.world.liveRing().root(t.topic));
      for (const m of t.members) expect(pathToRoot(t, m)[0]).toBe(m);
      expect(largestTable([t])).toBeLessThanOrEqual(24);
    }
  });

  it('keeps tree delay the sum of edge delays on a latency matrix, which is not metric', () => {
    // The synthetic matrix breaks the triangle inequality, so a member may be reached faster
    // through the tree than by unicast (RDP < 1); what holds is that delays add up edge by edge.
    const s = scenario({ nodes: 400, seed: 5, network: 'matrix' });
    const { trees } = buildTrees(s, [150], 8);
    const t = trees[0]!;
    const positions = t.positions();
    for (const m of t.members) {
      const path = pathToRoot(t, m);
      let delay = 0;
      for (let i = 1; i < path.length; i++) delay += s.world.model.delay(path[i]!, path[i - 1]!);
      expect(positions.get(m)!.delay).toBeCloseTo(delay, 6);
    }
  });
});

describe('scribe trees and seeds', () => {
  it('builds the same trees from the same seed and different trees from another', () => {
    const build = (seed: number): string => shape(buildTrees(scenario({ nodes: 500, seed }), [80, 30], 4).trees);
    const first = build(21);
    expect(build(21)).toBe(first);
    expect(build(22)).not.toBe(first);
  });
});

describe('pastry sim scribe', () => {
  /** The JSON output without its wall-clock timings. */
  async function json(...extra: string[]): Promise<Record<string, unknown>> {
    const { code, lines } = await run('scribe', '--nodes', '600', '--groups', '12', '--json', ...extra);
    expect(code).toBe(0);
    expect(lines).toHaveLength(1);
    const { buildMs, runMs, ...rest } = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(typeof buildMs).toBe('number');
    expect(typeof runMs).toBe('number');
    return rest;
  }

  it('prints the documented JSON object, the same for a seed and different for another', async () => {
    const a = await json('--seed', '5');
    expect(Object.keys(a)).toEqual([
      'nodes', 'groups', 'sizes', 'groupSize', 'members', 'maxChildren', 'rdp', 'depth', 'routeHops',
      'joinHops', 'nodeStress', 'children', 'linkStress', 'build',
    ]);
    expect(a).toMatchObject({ nodes: 600, groups: 12, sizes: 'zipf', maxChildren: 24, build: 'oracle', groupSize: { min: 11, max: 600 } });
    const rdp = a.rdp as Record<string, number>;
    expect(rdp.maxDelayBased).toBeGreaterThanOrEqual(1);
    expect(rdp.averageDelayBased).toBeGreaterThanOrEqual(1);
    expect(rdp.p90).toBeGreaterThanOrEqual(rdp.median!);
    expect((a.children as { largestTable: number }).largestTable).toBeLessThanOrEqual(24);
    const link = a.linkStress as Record<string, Record<string, number>>;
    expect(Object.keys(link.scribe!)).toEqual(['links', 'messages', 'mean', 'max', 'maxSentByNode']);
    expect(link.unicast!.maxSentByNode).toBeGreaterThan(link.scribe!.maxSentByNode!);
    expect(await json('--seed', '5')).toEqual(a);
    expect(await json('--seed', '6')).not.toEqual(a);
  });

  it('takes equal group sizes and a cap from the flags', async () => {
    const r = await json('--members', '50', '--max-children', '3');
    expect(r).toMatchObject({ sizes: 'equal', members: 600, groupSize: { min: 50, max: 50 }, maxChildren: 3 });
    expect((r.children as { largestTable: number; pushDowns: number }).largestTable).toBeLessThanOrEqual(3);
    expect((r.children as { pushDowns: number }).pushDowns).toBeGreaterThan(0);
  });

  it("prints a table beside the paper's figures, naming the per-overlay-link caveat", async () => {
    const { code, text } = await run('scribe', '--nodes', '400', '--groups', '8');
    expect(code).toBe(0);
    expect(text).toMatch(/RDP, max-delay based \(mean of groups\)\s+\S+\s+1\.66/);
    expect(text).toMatch(/children-table entries per node, mean \/ max\s+.+6\.2 \/ 1,059/);
    expect(text).toContain('per overlay link');
    expect((await run('help')).text).toContain('scribe');
    expect((await run('help', 'scribe')).text).toContain('--max-children');
  });

  it.each([
    [['scribe', '--zipf', '--members', '10'], /--zipf and --members are exclusive/],
    [['scribe', '--nodes', '50', '--members', '51'], /--members 51 exceeds --nodes 50/],
    [['scribe', '--max-children', '-1'], /--max-children must be between/],
    [['scribe', '--lookups', '5'], /unknown option --lookups/],
  ])('rejects %j with exit code 2', async (argv, message) => {
    const { code, text } = await run(...argv);
    expect(code).toBe(2);
    expect(text).toMatch(message);
  });
});

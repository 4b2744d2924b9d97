import { runLookup } from '../lookup';
import type { Rng } from '../rng';
import type { BuildKind, Scenario } from '../scenario';
import { Mean, round } from '../stats';
import type { World } from '../world';
import { linkStress, nodeStress, type LinkStress, type NodeStress } from './scribe-load';
import { join, ScribeTree, topicId } from './scribe-tree';

export interface ScribeOptions {
  groups: number;
  /** Members of every group; 0 draws Zipf-like sizes from 11 up to the ring's size. */
  members: number;
  /** Children per node and topic before push-down; 0 = no cap. */
  maxChildren: number;
}

/** The paper's experiment (100,000 nodes, transit-stub topology, no children cap). */
export const PAPER_SCRIBE = {
  nodes: 100_000,
  groups: 1_500,
  minGroupSize: 11,
  rdpMaxDelay: 1.66,
  rdpAverageDelay: 2.2,
  tablesMean: 2.4,
  tablesMax: 40,
  entriesMean: 6.2,
  entriesMax: 1_059,
  linkStressMax: 4_031,
  ipMulticastLinkStressMax: 950,
};

/** Scaled default of the paper's 1,500 groups, so 10,000 nodes run in seconds. */
export const DEFAULT_GROUPS = 100;

export interface ScribeResult {
  nodes: number;
  groups: number;
  sizes: 'zipf' | 'equal';
  groupSize: { min: number; max: number };
  members: number;
  maxChildren: number;
  /** Tree delay root→member ÷ unicast delay root→member (members other than the root). */
  rdp: { maxDelayBased: number; averageDelayBased: number; median: number; p90: number };
  /** Hops from the root down the tree to each member, beside the member's Pastry route to the root. */
  depth: { mean: number; max: number };
  routeHops: { mean: number; max: number };
  /** Hops a JOIN travelled before it met the tree (0 when the member was in it already). */
  joinHops: number;
  nodeStress: NodeStress;
  children: { largestTable: number; pushDowns: number };
  /** One publish to every group, per overlay link (directed node pair), not physical link. */
  linkStress: { scribe: LinkStress; unicast: LinkStress };
  build: BuildKind;
  buildMs: number;
  runMs: number;
}

/**
 * Group sizes. Zipf-like as in the paper: the group of rank r has round(N · r^-a) members,
 * with a chosen so the last group has 11 (at the paper's N = 100,000 and 1,500 groups a = 1.25).
 */
export function groupSizes(nodes: number, groups: number, members: number): number[] {
  if (members > nodes) throw new RangeError(`--members ${members} exceeds --nodes ${nodes}`);
  if (members > 0) return Array.from({ length: groups }, () => members);
  const smallest = Math.min(PAPER_SCRIBE.minGroupSize, nodes);
  const a = groups > 1 ? Math.log(nodes / smallest) / Math.log(groups) : 0;
  return Array.from({ length: groups }, (_, i) => Math.max(1, Math.min(nodes, Math.round(nodes * (i + 1) ** -a))));
}

/** Draws `count` distinct nodes: a partial shuffle of `pool`, which stays a permutation. */
function drawMembers(pool: number[], count: number, rng: Rng): number[] {
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** Builds one tree per group: its root is the topic's root, its members join one by one. */
export function buildTrees(scenario: Scenario, sizes: readonly number[], maxChildren: number): { trees: ScribeTree[]; joinHops: Mean } {
  const { world, rng } = scenario;
  const ring = world.liveRing();
  const pool = [...ring.sortedNodes()];
  const joinHops = new Mean();
  const delay = (a: number, b: number): number => world.model.delay(a, b);
  const trees = sizes.map((size, g) => {
    const topic = topicId(`topic-${g}`);
    const tree = new ScribeTree(topic, ring.root(topic), maxChildren, delay);
    for (const member of drawMembers(pool, size, rng)) joinHops.add(join(world, tree, member));
    return tree;
  });
  return { trees, joinHops };
}

/**
 * Builds the groups' trees, then measures them as the paper does: delay penalty and depth per
 * member, node stress over all trees, and one message published to every group.
 */
export function runScribe(scenario: Scenario, options: ScribeOptions): ScribeResult {
  const { world, build, rng } = scenario;
  const started = performance.now();
  const live = world.liveRing().sortedNodes();
  const sizes = groupSizes(live.length, options.groups, options.members);
  const { trees, joinHops } = buildTrees(scenario, sizes, options.maxChildren);
  const delays = measureDelays(world, trees);
  const publishers = trees.map(() => rng.pick(live));
  return {
    nodes: world.size,
    groups: trees.length,
    sizes: options.members > 0 ? 'equal' : 'zipf',
    groupSize: { min: Math.min(...sizes), max: Math.max(...sizes) },
    members: trees.reduce((sum, t) => sum + t.members.length, 0),
    maxChildren: options.maxChildren,
    rdp: delays.rdp,
    depth: delays.depth,
    routeHops: delays.routeHops,
    joinHops: round(joinHops.value),
    nodeStress: nodeStress(world.size, trees),
    children: childrenSummary(trees),
    linkStress: linkStress(world, trees, publishers),
    build: build.build,
    buildMs: Math.round(build.buildMs),
    runMs: Math.round(performance.now() - started),
  };
}

interface DelayMeasures {
  rdp: ScribeResult['rdp'];
  depth: ScribeResult['depth'];
  routeHops: ScribeResult['routeHops'];
}

/** Running mean and maximum of a quantity. */
class Spread {
  readonly mean = new Mean();
  max = 0;

  add(value: number): void {
    this.mean.add(value);
    this.max = Math.max(this.max, value);
  }
}

/** Delay penalty and depth of every member other than its group's root, beside its Pastry route. */
class DelayStats {
  private readonly ratios: number[] = [];
  private readonly maxBased = new Mean();
  private readonly averageBased = new Mean();
  private readonly depth = new Spread();
  private readonly route = new Spread();

  constructor(private readonly world: World) {}

  addGroup(tree: ScribeTree): void {
    const positions = tree.positions();
    const treeDelay = new Spread();
    const direct = new Spread();
    for (const member of tree.members) {
      const unicast = this.world.model.delay(tree.root, member);
      if (member === tree.root || unicast === 0) continue;
      const at = positions.get(member)!;
      this.ratios.push(at.delay / unicast);
      treeDelay.add(at.delay);
      direct.add(unicast);
      this.depth.add(at.depth);
      this.route.add(runLookup(this.world, member, tree.topic, {}).hops);
    }
    if (direct.mean.count === 0) return;
    this.maxBased.add(treeDelay.max / direct.max);
    this.averageBased.add(treeDelay.mean.value / direct.mean.value);
  }

  summary(): DelayMeasures {
    const sorted = [...this.ratios].sort((a, b) => a - b);
    return {
      rdp: {
        maxDelayBased: round(this.maxBased.value),
        averageDelayBased: round(this.averageBased.value),
        median: round(quantile(sorted, 0.5)),
        p90: round(quantile(sorted, 0.9)),
      },
      depth: { mean: round(this.depth.mean.value), max: this.depth.max },
      routeHops: { mean: round(this.route.mean.value), max: this.route.max },
    };
  }
}

function measureDelays(world: World, trees: readonly ScribeTree[]): DelayMeasures {
  const stats = new DelayStats(world);
  for (const tree of trees) stats.addGroup(tree);
  return stats.summary();
}

/** The q-quantile of sorted values (nearest rank); 0 when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function childrenSummary(trees: readonly ScribeTree[]): ScribeResult['children'] {
  let largestTable = 0;
  let pushDowns = 0;
  for (const tree of trees) {
    pushDowns += tree.pushDowns;
    for (const table of tree.children.values()) largestTable = Math.max(largestTable, table.length);
  }
  return { largestTable, pushDowns };
}

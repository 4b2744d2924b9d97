import type { Id } from '../../../node/src/core';
import { guidForName } from '../../../node/src/dht/guid';
import { runLookup } from '../lookup';
import type { World } from '../world';

/** FreePastry's and SplitStream's default: children per node and topic before push-down. */
export const DEFAULT_MAX_CHILDREN = 24;

/** A topic's id: SHA-256 of its UTF-8 name, first 16 bytes, as for every named object. */
export function topicId(name: string): Id {
  return guidForName(name);
}

/** Where a tree node sits: hops and one-way delay from the root down the tree to it. */
export interface TreePosition {
  depth: number;
  delay: number;
}

/**
 * One topic's Scribe multicast tree: the union of the JOIN routes from its members to the
 * root, each node holding the topic's children table. A node belongs to the tree when it is
 * the root or has a parent. With a cap, a full node hands a newcomer down to one of its
 * children (the nearest to the newcomer by delay), which takes it in the same way.
 */
export class ScribeTree {
  readonly members: number[] = [];
  /** Children tables: node to its children, insertion order. */
  readonly children = new Map<number, number[]>();
  private readonly parents = new Map<number, number>();
  private pushed = 0;

  /** `maxChildren` 0 means no cap; `delay` is the network's one-way delay. */
  constructor(
    readonly topic: Id,
    readonly root: number,
    private readonly maxChildren: number,
    private readonly delay: (a: number, b: number) => number,
  ) {}

  has(node: number): boolean {
    return node === this.root || this.parents.has(node);
  }

  parentOf(node: number): number | undefined {
    return this.parents.get(node);
  }

  childrenOf(node: number): readonly number[] {
    return this.children.get(node) ?? [];
  }

  /** Newcomers handed down because their first choice of parent was full. */
  get pushDowns(): number {
    return this.pushed;
  }

  /** Nodes in the tree, the root included. */
  get size(): number {
    return this.parents.size + 1;
  }

  /**
   * `parent` takes `child` in; a full parent pushes it down, as often as needed. The push-down
   * descends the tree, so it ends; a child already in the tree could close a cycle instead.
   */
  adopt(parent: number, child: number): void {
    if (this.has(child)) throw new Error(`node ${child} is already in the tree of topic ${this.topic}`);
    let at = parent;
    for (;;) {
      const table = this.children.get(at);
      if (this.maxChildren === 0 || (table?.length ?? 0) < this.maxChildren) {
        if (table) table.push(child);
        else this.children.set(at, [child]);
        this.parents.set(child, at);
        return;
      }
      this.pushed++;
      at = this.nearest(table!, child);
    }
  }

  /** Every tree node's depth and delay from the root, found walking down the children tables. */
  positions(): Map<number, TreePosition> {
    const out = new Map<number, TreePosition>([[this.root, { depth: 0, delay: 0 }]]);
    const queue = [this.root];
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i]!;
      const here = out.get(node)!;
      for (const child of this.childrenOf(node)) {
        if (out.has(child)) continue; // a cycle would revisit; the tests check there is none
        out.set(child, { depth: here.depth + 1, delay: here.delay + this.delay(node, child) });
        queue.push(child);
      }
    }
    return out;
  }

  private nearest(candidates: readonly number[], to: number): number {
    let best = candidates[0]!;
    for (const c of candidates) if (this.delay(c, to) < this.delay(best, to)) best = c;
    return best;
  }
}

/**
 * Subscribes `member`: a JOIN routed from it towards the topic id with the node's own next
 * hop; each node reached adopts the previous hop, and the JOIN stops at the first node that
 * was already in the tree (at the latest the root). Returns the hops the JOIN travelled.
 */
export function join(world: World, tree: ScribeTree, member: number): number {
  tree.members.push(member);
  if (tree.has(member)) return 0;
  let previous = -1;
  const route = runLookup(world, member, tree.topic, {
    visit: (node) => {
      if (previous < 0) {
        previous = node;
        return false;
      }
      const inTree = tree.has(node);
      tree.adopt(node, previous);
      previous = node;
      return inTree;
    },
  });
  if (!route.stopped) {
    throw new Error(`the JOIN from node ${member} for topic ${tree.topic} ended at node ${route.destination}, not at the root ${tree.root}`);
  }
  return route.hops;
}

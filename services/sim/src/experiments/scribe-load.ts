import { runLookup } from '../lookup';
import { round } from '../stats';
import type { World } from '../world';
import type { ScribeTree } from './scribe-tree';

/** The paper's node stress: children tables a node holds, and their entries, over all topics. */
export interface NodeStress {
  /** Nodes holding at least one non-empty children table (the means are over these). */
  nodesWithChildren: number;
  tablesMean: number;
  tablesMax: number;
  entriesMean: number;
  entriesMax: number;
}

/**
 * Messages per overlay link (a directed node pair) when one message is published to every
 * group. The simulator has no routers, so this is not the paper's per-physical-link figure.
 */
export interface LinkStress {
  /** Directed node pairs that carried at least one message. */
  links: number;
  messages: number;
  mean: number;
  max: number;
  /** The most messages any one node sent. */
  maxSentByNode: number;
}

export function nodeStress(nodes: number, trees: readonly ScribeTree[]): NodeStress {
  const tables = new Uint32Array(nodes);
  const entries = new Uint32Array(nodes);
  for (const tree of trees) {
    for (const [node, children] of tree.children) {
      if (children.length === 0) continue;
      tables[node]!++;
      entries[node]! += children.length;
    }
  }
  let holders = 0;
  let tableSum = 0;
  let entrySum = 0;
  for (let i = 0; i < nodes; i++) {
    if (tables[i] === 0) continue;
    holders++;
    tableSum += tables[i]!;
    entrySum += entries[i]!;
  }
  return {
    nodesWithChildren: holders,
    tablesMean: holders === 0 ? 0 : round(tableSum / holders),
    tablesMax: maxOf(tables),
    entriesMean: holders === 0 ? 0 : round(entrySum / holders),
    entriesMax: maxOf(entries),
  };
}

/** Counts messages per directed node pair and per sender. */
class LinkCounter {
  private readonly perLink = new Map<number, number>();
  private readonly sent: Uint32Array;

  constructor(private readonly nodes: number) {
    this.sent = new Uint32Array(nodes);
  }

  add(from: number, to: number): void {
    const link = from * this.nodes + to;
    this.perLink.set(link, (this.perLink.get(link) ?? 0) + 1);
    this.sent[from]!++;
  }

  addPath(path: readonly number[]): void {
    for (let i = 1; i < path.length; i++) this.add(path[i - 1]!, path[i]!);
  }

  summary(): LinkStress {
    let messages = 0;
    let max = 0;
    for (const n of this.perLink.values()) {
      messages += n;
      max = Math.max(max, n);
    }
    const links = this.perLink.size;
    return { links, messages, mean: links === 0 ? 0 : round(messages / links), max, maxSentByNode: maxOf(this.sent) };
  }
}

/**
 * One message published to every group from a random node (`publishers`, one per tree). In
 * both schemes it first travels the Pastry route to the root; Scribe then sends one copy down
 * each tree edge, the unicast baseline one copy from the root straight to each member.
 */
export function linkStress(world: World, trees: readonly ScribeTree[], publishers: readonly number[]): { scribe: LinkStress; unicast: LinkStress } {
  const scribe = new LinkCounter(world.size);
  const unicast = new LinkCounter(world.size);
  trees.forEach((tree, g) => {
    const toRoot = runLookup(world, publishers[g]!, tree.topic, {}).path;
    scribe.addPath(toRoot);
    unicast.addPath(toRoot);
    for (const [parent, children] of tree.children) for (const child of children) scribe.add(parent, child);
    for (const member of tree.members) if (member !== tree.root) unicast.add(tree.root, member);
  });
  return { scribe: scribe.summary(), unicast: unicast.summary() };
}

function maxOf(values: Uint32Array): number {
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  return max;
}

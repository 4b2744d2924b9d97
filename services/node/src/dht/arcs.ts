import { fromBigInt, RING_SIZE, toBigInt, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import type { Endpoint } from '../overlay/common-api';

/** A ring range that does not wrap: from <= to. */
export interface Range {
  from: Id;
  to: Id;
}

/** A range of keys with one replica set that includes this node, and that set's other members. */
export interface Arc extends Range {
  peers: NodeHandle[];
}

export const MIN_ID = '0'.repeat(32);
export const MAX_ID = 'f'.repeat(32);
const HALF = RING_SIZE / 2n;
const MASK = RING_SIZE - 1n;

/**
 * The keys this node is a replica of, by its own view, cut into ranges of one replica set.
 * The set of the k nodes closest to a key changes only where the key is equidistant from two
 * nodes (their two midpoints on the ring), and the sets that hold this node are made of
 * nodes within k places of it: so the midpoints of those nodes' pairs cut the ring into
 * pieces, each with one set, and one replicaSet() call per piece classifies it. This costs
 * O(k^2) calls however much the node stores, where classifying every object cost a call each.
 */
export function replicaArcs(endpoint: Pick<Endpoint, 'self' | 'leafSet' | 'replicaSet'>, k: number): Arc[] {
  const self = endpoint.self;
  const byId = new Map<Id, NodeHandle>([[self.id, self], ...endpoint.leafSet().map((n) => [n.id, n] as const)]);
  const nodes = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  if (nodes.length <= k) return [{ from: MIN_ID, to: MAX_ID, peers: nodes.filter((n) => n.id !== self.id) }];
  const at = nodes.findIndex((n) => n.id === self.id);
  const near = new Set<bigint>();
  for (let j = -(k + 1); j <= k + 1; j++) near.add(toBigInt(nodes[(((at + j) % nodes.length) + nodes.length) % nodes.length]!.id));
  const cuts = new Set<bigint>([0n]);
  const values = [...near];
  for (let i = 0; i < values.length; i++) {
    for (let j = i + 1; j < values.length; j++) {
      const lo = values[i]! < values[j]! ? values[i]! : values[j]!;
      const hi = values[i]! < values[j]! ? values[j]! : values[i]!;
      const mid = lo + (hi - lo) / 2n;
      // Both midpoints, and the key after each, so that a tie falls in a piece of its own.
      for (const m of [mid, (mid + HALF) & MASK]) {
        cuts.add(m);
        cuts.add((m + 1n) & MASK);
      }
    }
  }
  const sorted = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const arcs: Arc[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!;
    const end = i + 1 < sorted.length ? sorted[i + 1]! - 1n : MASK;
    const set = endpoint.replicaSet(fromBigInt(start), k);
    if (!set.some((n) => n.id === self.id)) continue;
    const peers = set.filter((n) => n.id !== self.id).sort((a, b) => (a.id < b.id ? -1 : 1));
    const last = arcs[arcs.length - 1];
    if (last && toBigInt(last.to) + 1n === start && samePeers(last.peers, peers)) last.to = fromBigInt(end);
    else arcs.push({ from: fromBigInt(start), to: fromBigInt(end), peers });
  }
  return arcs;
}

function samePeers(a: NodeHandle[], b: NodeHandle[]): boolean {
  return a.length === b.length && a.every((n, i) => n.id === b[i]!.id);
}

/** Adjacent or overlapping ranges joined, in ring order. */
export function mergeRanges(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && toBigInt(last.to) + 1n >= toBigInt(r.from)) {
      if (r.to > last.to) last.to = r.to;
    } else out.push({ from: r.from, to: r.to });
  }
  return out;
}

/** For each peer, the ranges whose replicas it shares with this node, merged. */
export function sharedRanges(arcs: Arc[]): { peer: NodeHandle; ranges: Range[] }[] {
  const byPeer = new Map<Id, { peer: NodeHandle; ranges: Range[] }>();
  for (const arc of arcs) {
    for (const peer of arc.peers) {
      let entry = byPeer.get(peer.id);
      if (!entry) byPeer.set(peer.id, (entry = { peer, ranges: [] }));
      entry.ranges.push({ from: arc.from, to: arc.to });
    }
  }
  return [...byPeer.values()].map(({ peer, ranges }) => ({ peer, ranges: mergeRanges(ranges) }));
}

/** The ranges of the ring outside `ranges`: keys this node holds no replica of. */
export function complement(ranges: Range[]): Range[] {
  const out: Range[] = [];
  let next = 0n;
  for (const r of mergeRanges(ranges)) {
    const from = toBigInt(r.from);
    if (from > next) out.push({ from: fromBigInt(next), to: fromBigInt(from - 1n) });
    next = toBigInt(r.to) + 1n;
  }
  if (next <= MASK) out.push({ from: fromBigInt(next), to: MAX_ID });
  return out;
}

/** Whether `guid` lies in one of `ranges`. */
export function inRanges(guid: Id, ranges: Range[]): boolean {
  return ranges.some((r) => r.from <= guid && guid <= r.to);
}

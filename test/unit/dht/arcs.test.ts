import { createHash } from 'node:crypto';
import { fromBigInt, RING_SIZE, toBigInt, type Id } from '../../../services/node/src/core/id';
import type { NodeHandle } from '../../../services/node/src/core/node-handle';
import { replicaSet } from '../../../services/node/src/core/replicas';
import type { RoutingState } from '../../../services/node/src/core/routing-state';
import { splitRange } from '../../../services/node/src/dht/anti-entropy';
import { complement, inRanges, mergeRanges, replicaArcs, sharedRanges, type Arc } from '../../../services/node/src/dht/arcs';

function id(seed: string): Id {
  return createHash('sha256').update(seed).digest('hex').slice(0, 32);
}

/** A node's view: itself and the `half` nearest nodes on each side, as its leaf set. */
function viewOf(all: NodeHandle[], at: number, half: number): { self: NodeHandle; leafSet(): NodeHandle[]; replicaSet(key: Id, k: number): NodeHandle[] } {
  const sorted = [...all].sort((a, b) => (a.id < b.id ? -1 : 1));
  const i = sorted.findIndex((n) => n.id === all[at]!.id);
  const leaf = new Map<Id, NodeHandle>();
  for (let j = 1; j <= half; j++) {
    for (const n of [sorted[(i + j) % sorted.length]!, sorted[(i - j + sorted.length * 4) % sorted.length]!]) if (n.id !== all[at]!.id) leaf.set(n.id, n);
  }
  const state = { self: all[at]!, leafSet: { members: () => [...leaf.values()] } } as unknown as RoutingState;
  return { self: all[at]!, leafSet: () => [...leaf.values()], replicaSet: (key, k) => replicaSet(state, key, k) };
}

function nodes(n: number, tag: string): NodeHandle[] {
  return Array.from({ length: n }, (_, i) => ({ id: id(`${tag}-${i}`), address: `${i}`, name: '' }));
}

function arcOf(arcs: Arc[], key: Id): Arc | undefined {
  return arcs.find((a) => a.from <= key && key <= a.to);
}

/** Keys at random, plus the keys on both sides of every node and of every arc boundary. */
function probeKeys(all: NodeHandle[], arcs: Arc[], count: number): Id[] {
  const keys = Array.from({ length: count }, (_, i) => id(`key-${i}`));
  for (const v of [...all.map((n) => toBigInt(n.id)), ...arcs.flatMap((a) => [toBigInt(a.from), toBigInt(a.to)])]) {
    for (const d of [-1n, 0n, 1n]) keys.push(fromBigInt((v + d + RING_SIZE) % RING_SIZE));
  }
  return keys;
}

describe('replica arcs', () => {
  it.each([
    [2, 3, 8],
    [3, 3, 8],
    [5, 3, 8],
    [40, 3, 8],
    [40, 5, 8],
    [200, 3, 12],
  ])('%i nodes, k = %i: a key is in an arc exactly when this node is among its replicas, with that set as peers', (n, k, half) => {
    const all = nodes(n, `ring${n}-${k}`);
    for (let at = 0; at < Math.min(n, 6); at++) {
      const view = viewOf(all, at, half);
      const arcs = replicaArcs(view, k);
      for (let i = 1; i < arcs.length; i++) expect(arcs[i - 1]!.to < arcs[i]!.from).toBe(true);
      for (const key of probeKeys(all, arcs, 2000)) {
        const set = view.replicaSet(key, k);
        const arc = arcOf(arcs, key);
        const holds = set.some((m) => m.id === view.self.id);
        expect({ key, holds: arc !== undefined }).toEqual({ key, holds });
        if (arc) expect(arc.peers.map((p) => p.id).sort()).toEqual(set.filter((m) => m.id !== view.self.id).map((m) => m.id).sort());
      }
      // The arcs are few: they grow with k, not with what is stored.
      expect(arcs.length).toBeLessThanOrEqual(4 * k * k);
      const outside = complement(arcs);
      for (const key of probeKeys(all, arcs, 500)) expect(inRanges(key, outside)).toBe(arcOf(arcs, key) === undefined);
    }
  });

  it('a lone node replicates the whole ring', () => {
    const all = nodes(1, 'lone');
    const arcs = replicaArcs(viewOf(all, 0, 8), 3);
    expect(arcs).toEqual([{ from: '0'.repeat(32), to: 'f'.repeat(32), peers: [] }]);
    expect(complement(arcs)).toEqual([]);
  });

  it('gives each peer its shared ranges merged, and merges adjacent ranges', () => {
    const all = nodes(40, 'shared');
    const view = viewOf(all, 0, 8);
    const arcs = replicaArcs(view, 3);
    for (const { peer, ranges } of sharedRanges(arcs)) {
      for (let i = 1; i < ranges.length; i++) expect(toBigInt(ranges[i - 1]!.to) + 1n < toBigInt(ranges[i]!.from)).toBe(true);
      for (const key of probeKeys(all, arcs, 1000)) {
        const shares = view.replicaSet(key, 3).some((m) => m.id === peer.id) && view.replicaSet(key, 3).some((m) => m.id === view.self.id);
        expect(inRanges(key, ranges)).toBe(shares);
      }
    }
    expect(mergeRanges([
      { from: '2'.repeat(32), to: '3'.repeat(32) },
      { from: '0'.repeat(32), to: '1'.repeat(32) },
      { from: '1'.repeat(31) + '2', to: '2'.repeat(31) + '8' },
    ])).toEqual([{ from: '0'.repeat(32), to: '3'.repeat(32) }]);
  });
});

describe('splitRange', () => {
  it('cuts a range at its first varying digit, down to one leaf of the hash tree', () => {
    const r = { from: '1'.repeat(32), to: '3' + '0'.repeat(31) };
    const parts = splitRange(r)!;
    expect(parts).toEqual([
      { from: '1'.repeat(32), to: '1' + 'f'.repeat(31) },
      { from: '2' + '0'.repeat(31), to: '2' + 'f'.repeat(31) },
      { from: '3' + '0'.repeat(31), to: '3' + '0'.repeat(31) },
    ]);
    // Inside one three-digit leaf there is nothing left to split.
    expect(splitRange({ from: 'abc' + '0'.repeat(29), to: 'abc' + 'f'.repeat(29) })).toBeUndefined();
    expect(splitRange({ from: 'ab0' + '0'.repeat(29), to: 'abf' + 'f'.repeat(29) })!.length).toBe(16);
  });
});

import { DIGITS, digit, sharedPrefixLength } from '../../node/src/core';
import type { World } from './world';

/** Message kinds of failure repair, counted per failed node by the failures experiment. */
export const LEAF_REPAIR_KINDS = ['leafset_request', 'leaf_probe'] as const;
export const TABLE_REPAIR_KINDS = ['row_request', 'entry_probe'] as const;

/** Routing-table slots emptied by failure detection and not yet refilled, per node. */
export class HoleLog {
  private readonly holes = new Map<number, Set<number>>();

  add(node: number, row: number, column: number): void {
    let set = this.holes.get(node);
    if (!set) this.holes.set(node, (set = new Set()));
    set.add(row * 16 + column);
  }

  /** Takes every logged hole of a node, as [row, column] pairs. */
  take(node: number): [number, number][] {
    const set = this.holes.get(node);
    this.holes.delete(node);
    return set ? [...set].map((s) => [Math.floor(s / 16), s % 16]) : [];
  }

  get size(): number {
    let n = 0;
    for (const s of this.holes.values()) n += s.size;
    return n;
  }
}

export interface DeadContactOptions {
  /** Lazy routing-table repair: ask row-mates for a replacement of the lost entry. */
  repairTable: boolean;
  /** Where holes are logged when the table is not repaired on the spot. */
  holes?: HoleLog;
}

/**
 * Node x timed out on `dead`: it forgets it everywhere, repairs its leaf set before doing
 * anything else (a leaf set missing members believes it covers the whole ring, so routing
 * on it would deliver at the wrong node), and starts a lazy repair of the routing-table
 * slot in the background. `done` runs once the leaf set is whole again.
 */
export function handleDeadContact(world: World, x: number, dead: number, options: DeadContactOptions, done: () => void): void {
  const state = world.states[x]!;
  const id = world.handles[dead]!.id;
  const row = sharedPrefixLength(state.self.id, id);
  const column = row < DIGITS ? digit(id, row) : -1;
  const heldSlot = row < DIGITS && state.table.get(row, column)?.node.id === id;
  const leafChanged = state.forget(id, world.now);
  if (heldSlot) {
    if (options.repairTable) repairTableSlot(world, x, row, column, () => undefined);
    else options.holes?.add(x, row, column);
  }
  if (leafChanged) repairLeafSet(world, x, done);
  else done();
}

/**
 * Leaf-set repair: while a side is short, ask the farthest member on that side (not asked
 * yet) for its leaf set, take in what it knows and probe the newcomers that entered the
 * leaf set, since hearsay may name nodes that are dead too.
 */
export function repairLeafSet(world: World, x: number, done: () => void): void {
  const state = world.states[x]!;
  const asked = new Set<number>();
  const step = (): void => {
    const target = nextLeafToAsk(world, x, asked);
    if (target === undefined) return done();
    asked.add(target);
    world.rpc(
      x,
      target,
      'leafset_request',
      () => {
        world.states[target]!.learn(state.self, world.now, { direct: true, proximity: world.rtt(x, target) });
        return [world.handles[target]!, ...world.states[target]!.leafSet.members()];
      },
      (nodes) => {
        const entered = nodes.filter((n) => n.id !== state.self.id && !state.leafSet.has(n.id) && state.learn(n, world.now) && state.leafSet.has(n.id));
        probeAll(world, x, entered.map((n) => world.indexOf(n)), step);
      },
      () => {
        state.forget(world.handles[target]!.id, world.now);
        step();
      },
    );
  };
  step();
}

function nextLeafToAsk(world: World, x: number, asked: Set<number>): number | undefined {
  const leafSet = world.states[x]!.leafSet;
  for (const side of [leafSet.leftSide(), leafSet.rightSide()]) {
    if (side.length >= leafSet.half) continue;
    for (let i = side.length - 1; i >= 0; i--) {
      const n = world.indexOf(side[i]!);
      if (!asked.has(n)) return n;
    }
  }
  return undefined;
}

/** Probes each node in parallel: the live ones are learned with their RTT, the dead forgotten. */
function probeAll(world: World, x: number, nodes: number[], done: () => void): void {
  let pending = nodes.length;
  if (pending === 0) return done();
  const state = world.states[x]!;
  const finish = (): void => {
    if (--pending === 0) done();
  };
  for (const n of nodes) {
    world.rpc(
      x,
      n,
      'leaf_probe',
      () => world.states[n]!.learn(state.self, world.now, { direct: true, proximity: world.rtt(x, n) }),
      () => {
        state.learn(world.handles[n]!, world.now, { direct: true, proximity: world.rtt(x, n) });
        finish();
      },
      () => {
        state.forget(world.handles[n]!.id, world.now);
        finish();
      },
    );
  }
}

/**
 * Pastry's lazy routing-table repair of slot (row, column): ask the other entries of the
 * same row, then of the next row, for their own entry in that slot (theirs shares the same
 * prefix with us), and take the first candidate that answers a probe.
 */
export function repairTableSlot(world: World, x: number, row: number, column: number, done: () => void): void {
  const state = world.states[x]!;
  const askers = [...state.table.row(row), ...state.table.row(row + 1)]
    .sort((a, b) => a.proximity - b.proximity)
    .map((e) => world.indexOf(e.node));
  const tryNext = (i: number): void => {
    if (state.table.get(row, column) !== undefined || i >= askers.length) return done();
    const m = askers[i]!;
    world.rpc(
      x,
      m,
      'row_request',
      () => world.states[m]!.table.get(row, column)?.node,
      (candidate) => {
        if (!candidate || candidate.id === state.self.id || state.isRecentlyDead(candidate.id, world.now)) return tryNext(i + 1);
        const c = world.indexOf(candidate);
        world.rpc(
          x,
          c,
          'entry_probe',
          () => world.states[c]!.learn(state.self, world.now, { direct: true, proximity: world.rtt(x, c) }),
          () => {
            state.learn(candidate, world.now, { direct: true, proximity: world.rtt(x, c) });
            tryNext(i + 1);
          },
          () => {
            state.forget(candidate.id, world.now);
            tryNext(i + 1);
          },
        );
      },
      () => {
        state.forget(world.handles[m]!.id, world.now);
        tryNext(i + 1);
      },
    );
  };
  tryNext(0);
}

/**
 * A keep-alive round over x's leaf set: members that do not answer are forgotten and the
 * leaf set repaired. This is how Pastry notices silent failures among its neighbours.
 */
export function leafKeepAlive(world: World, x: number, done: () => void): void {
  const state = world.states[x]!;
  const members = state.leafSet.members().map((n) => world.indexOf(n));
  const dead: number[] = [];
  let pending = members.length;
  if (pending === 0) return done();
  const finish = (): void => {
    if (--pending > 0) return;
    let changed = false;
    for (const d of dead) changed = state.forget(world.handles[d]!.id, world.now) || changed;
    if (changed) repairLeafSet(world, x, done);
    else done();
  };
  for (const m of members) {
    world.rpc(x, m, 'keepalive', () => undefined, finish, () => {
      dead.push(m);
      finish();
    });
  }
}

import {
  adoptJoinState,
  joinContribution,
  sharedPrefixLength,
  type JoinContribution,
  type NodeHandle,
  type RoutingState,
} from '../../../node/src/core';
import type { Rng } from '../rng';
import type { World } from '../world';

export interface JoinOptions {
  /**
   * 0: each node joins through the nearest (by proximity) already-joined node, as Pastry
   * assumes. k > 0: through the nearest of k joined nodes drawn at random.
   */
  bootstrapSample: number;
}

export interface JoinReport {
  build: 'join';
  buildMs: number;
  /** Virtual time the joins took, one after another. */
  virtualMs: number;
  /** Messages of the join protocol (join, join_reply, announce, probe). */
  messages: number;
}

const JOIN_KINDS = ['join', 'join_reply', 'announce', 'probe'];

/**
 * Builds the ring with the real join protocol, one node at a time in `order`: every message
 * goes through the event queue with the model's delay. The first node starts the ring.
 */
export function buildByJoin(world: World, options: JoinOptions, rng: Rng, order: readonly number[]): JoinReport {
  const started = performance.now();
  const virtualStart = world.now;
  const messagesBefore = world.total(JOIN_KINDS);
  const index = options.bootstrapSample > 0 ? undefined : world.model.proximityIndex();
  const joined: number[] = [];
  for (const x of order) {
    if (joined.length > 0) {
      const bootstrap = index ? index.nearest(x, 1)[0]! : nearestOfSample(world, x, joined, options.bootstrapSample, rng);
      let finished = false;
      joinThrough(world, x, bootstrap, () => (finished = true));
      world.queue.run();
      if (!finished) throw new Error(`node ${x} did not finish joining`);
    }
    joined.push(x);
    index?.insert(x);
  }
  return {
    build: 'join',
    buildMs: performance.now() - started,
    virtualMs: world.now - virtualStart,
    messages: world.total(JOIN_KINDS) - messagesBefore,
  };
}

function nearestOfSample(world: World, x: number, joined: readonly number[], k: number, rng: Rng): number {
  let best = joined[0]!;
  let bestDelay = Number.POSITIVE_INFINITY;
  for (const i of rng.sample(joined.length, k)) {
    const d = world.model.delay(x, joined[i]!);
    if (d < bestDelay) {
      bestDelay = d;
      best = joined[i]!;
    }
  }
  return best;
}

/**
 * One join: x asks `bootstrap`; the join message is routed from there towards x's id
 * (never to x itself); every node on the path contributes its rows, the root its leaf set,
 * the bootstrap its neighbourhood set. x adopts it all, then announces itself.
 */
export function joinThrough(world: World, x: number, bootstrap: number, done: () => void): void {
  const joinerId = world.handles[x]!.id;
  const contributions = new Map<number, JoinContribution>();
  let neighbourhood: NodeHandle[] = [];
  let root = -1;
  const restart = (): void => joinThrough(world, x, bootstrap, done);

  const route = (y: number): void => {
    const state = world.states[y]!;
    const decision = state.nextHop(joinerId, joinerId);
    const isRoot = decision.kind === 'deliver';
    contributions.set(y, joinContribution(state, joinerId, isRoot));
    if (isRoot) {
      root = y;
      world.forward(y, x, 'join_reply', adopt, restart);
      return;
    }
    const next = world.indexOf(decision.node);
    // Every retransmission was lost: y forgets the hop and routes around it. Repair of what
    // the build leaves wrong is the node's protocol's job (see OverlayWorld).
    world.forward(y, next, 'join', () => route(next), () => {
      state.forget(world.handles[next]!.id, world.now);
      route(y);
    });
  };

  const adopt = (): void => {
    const rows = [...contributions.values()].flatMap((c) => c.rows);
    const leafSet = contributions.get(root)!.leafSet;
    const learned = adoptJoinState(world.states[x]!, { rows, leafSet }, neighbourhood, world.now);
    announce(world, x, learned.map((n) => world.indexOf(n)), done);
  };

  world.forward(x, bootstrap, 'join', () => {
    const b = world.states[bootstrap]!;
    neighbourhood = [world.handles[bootstrap]!, ...b.neighborhood.nodes()];
    route(bootstrap);
  }, restart);
}

/**
 * x tells every node it learned of that it exists; each answer measures the RTT and carries
 * the other node's leaf set. Nodes in x's routing table also send their row at the shared
 * prefix, whose members x probes and keeps where nearer: the paper's second pass that
 * improves locality.
 */
function announce(world: World, x: number, nodes: number[], done: () => void): void {
  const state = world.states[x]!;
  const self = world.handles[x]!;
  let pending = nodes.length;
  if (pending === 0) return done();
  const finish = (): void => {
    if (--pending === 0) done();
  };
  for (const z of nodes) {
    const inTable = isTableEntry(state, world.handles[z]!);
    world.rpc(
      x,
      z,
      'announce',
      () => {
        const other = world.states[z]!;
        other.learn(self, world.now, { direct: true, proximity: world.rtt(x, z) });
        const row = inTable ? other.table.row(sharedPrefixLength(self.id, other.self.id)).map((e) => e.node) : [];
        return { leafSet: other.leafSet.members(), row };
      },
      (reply) => {
        state.learn(world.handles[z]!, world.now, { direct: true, proximity: world.rtt(x, z) });
        for (const n of reply.leafSet) state.learn(n, world.now);
        world.count('probe', reply.row.length);
        for (const n of reply.row) state.learn(n, world.now, { proximity: world.rtt(x, world.indexOf(n)) });
        finish();
      },
      () => {
        state.forget(world.handles[z]!.id, world.now);
        finish();
      },
    );
  }
}

function isTableEntry(state: RoutingState, node: NodeHandle): boolean {
  const row = sharedPrefixLength(state.self.id, node.id);
  return state.table.get(row, parseInt(node.id[row]!, 16))?.node.id === node.id;
}

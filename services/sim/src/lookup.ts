import type { Id, RouteDecision } from '../../node/src/core';
import type { World } from './world';

/** A route longer than this is a routing loop; the lookup is counted as failed. */
export const MAX_ROUTE_HOPS = 64;

export interface LookupOptions {
  /** Lets an experiment replace the next hop (the replica heuristic); undefined keeps it. */
  redirect?: (at: number, key: Id, decision: RouteDecision) => number | undefined;
  /** Runs at every node the message reaches, the source first; true stops the route there. */
  visit?: (node: number) => boolean;
}

export interface LookupResult {
  source: number;
  key: Id;
  /** Where the message ended: delivered (root by its own state) or stopped by `visit`. */
  destination: number;
  stopped: boolean;
  /** Messages that reached a live node. */
  hops: number;
  /** Next hops found dead (each cost a timeout and a retry). */
  timeouts: number;
  /** Sum of the one-way delays of the hops taken. */
  distance: number;
  /** Virtual time from start to end, timeouts included. */
  latency: number;
  /** Delivered at the key's true root (the numerically closest live node). */
  correct: boolean;
  /** The nodes visited, source first. */
  path: number[];
}

/**
 * Routes one lookup hop by hop through the event queue: at each node the core's nextHop
 * picks the next node, the message travels with the model's delay, and a hop whose every
 * retransmission is lost is forgotten and routed around. The routing of the node's own
 * protocol, with its failure detection and repair, is run by OverlayWorld.
 */
export function startLookup(world: World, source: number, key: Id, options: LookupOptions, done: (result: LookupResult) => void): void {
  const start = world.now;
  const path = [source];
  let hops = 0;
  let timeouts = 0;
  let distance = 0;

  const finish = (destination: number, stopped: boolean, failed = false): void => {
    const correct = !failed && !stopped && destination === world.liveRing().root(key);
    done({ source, key, destination, stopped, hops, timeouts, distance, latency: world.now - start, correct, path });
  };

  const arrive = (x: number): void => {
    if (options.visit?.(x)) return finish(x, true);
    route(x);
  };

  const route = (x: number): void => {
    if (hops >= MAX_ROUTE_HOPS) return finish(x, false, true);
    const decision = world.states[x]!.nextHop(key);
    if (decision.kind === 'deliver') return finish(x, false);
    const next = options.redirect?.(x, key, decision) ?? world.indexOf(decision.node);
    world.forward(
      x,
      next,
      'route',
      () => {
        hops++;
        distance += world.model.delay(x, next);
        path.push(next);
        arrive(next);
      },
      () => {
        // Every retransmission was lost: forget the hop and route around it.
        timeouts++;
        world.states[x]!.forget(world.handles[next]!.id, world.now);
        route(x);
      },
    );
  };

  arrive(source);
}

/** Runs one lookup to completion (drains the event queue) and returns its result. */
export function runLookup(world: World, source: number, key: Id, options: LookupOptions): LookupResult {
  let result: LookupResult | undefined;
  startLookup(world, source, key, options, (r) => (result = r));
  world.queue.run();
  if (!result) throw new Error('lookup did not finish: the event queue drained first');
  return result;
}

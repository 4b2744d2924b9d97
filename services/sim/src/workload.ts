import type { Id } from '../../node/src/core';
import { runLookup, type LookupOptions, type LookupResult } from './lookup';
import type { Rng } from './rng';
import type { World } from './world';

/** A lookup request: a random key from a random live node, as in the paper's experiments. */
export interface LookupRequest {
  source: number;
  key: Id;
}

export function randomRequest(world: World, rng: Rng, live: readonly number[]): LookupRequest {
  return { source: live[rng.int(live.length)]!, key: rng.id() };
}

/** Runs `count` random lookups one after another and hands each result to `observe`. */
export function runLookups(world: World, rng: Rng, count: number, options: LookupOptions, observe: (result: LookupResult) => void): void {
  const live = world.liveRing().sortedNodes();
  for (let i = 0; i < count; i++) {
    const { source, key } = randomRequest(world, rng, live);
    observe(runLookup(world, source, key, options));
  }
}

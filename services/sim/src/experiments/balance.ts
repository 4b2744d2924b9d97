import { nodeIdFor, type IdScheme } from '../../../node/src/node-id';
import { LiveRing } from '../live-ring';
import { Rng } from '../rng';
import { round } from '../stats';

export interface SchemeBalance {
  scheme: IdScheme;
  /** Objects (replicas counted) on the fullest pod, over the mean: 1 is perfect balance. */
  maxOverMean: number;
  minOverMean: number;
  /** Standard deviation over the mean. */
  cv: number;
}

export interface BalanceResult {
  nodes: number;
  objects: number;
  replicas: number;
  schemes: SchemeBalance[];
}

/**
 * How evenly a StatefulSet of `nodes` pods (pastry-0..N-1) stores `objects` random keys at k
 * replicas each (the k numerically closest pods), with the pods' ids from each id scheme:
 * the same node-id code the pods run (services/node/src/node-id.ts).
 */
export function runBalance(nodes: number, objects: number, replicas: number, seed: number): BalanceResult {
  const rng = new Rng(seed);
  const keys = Array.from({ length: objects }, () => rng.id());
  const schemes = (['name', 'spread'] as const).map((scheme) => {
    const ids = Array.from({ length: nodes }, (_, i) => nodeIdFor(`pastry-${i}`, scheme));
    const ring = new LiveRing(nodes, (i) => ids[i]!, () => true);
    const counts = new Array<number>(nodes).fill(0);
    for (const key of keys) for (const n of ring.closest(key, replicas)) counts[n]!++;
    const mean = counts.reduce((a, b) => a + b, 0) / nodes;
    const sd = Math.sqrt(counts.reduce((a, c) => a + (c - mean) ** 2, 0) / nodes);
    return { scheme, maxOverMean: round(Math.max(...counts) / mean, 3), minOverMean: round(Math.min(...counts) / mean, 3), cv: round(sd / mean, 3) };
  });
  return { nodes, objects, replicas, schemes };
}

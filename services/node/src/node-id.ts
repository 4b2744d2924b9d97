import { fromBigInt, RING_SIZE, toBigInt, type Id } from './core/id';
import { guidForName } from './dht/guid';

/** How a node's id follows from its stable name (a restarted pod keeps its id either way). */
export const ID_SCHEMES = ['name', 'spread'] as const;
export type IdScheme = (typeof ID_SCHEMES)[number];

const ORDINAL = /^(.*)-(\d+)$/;

/**
 * `name`: SHA-256(name)[0:16], one random-looking id per pod. `spread`, for StatefulSet
 * names `<set>-<ordinal>`: SHA-256(set)[0:16] plus the ordinal with its 128 bits reversed
 * (the van der Corput sequence), so pods 0..N-1 cut the ring into gaps within a factor of
 * two of each other for any N, and each new ordinal splits one of the largest gaps: objects
 * per pod spread far more evenly than with random ids, with no coordination.
 */
export function nodeIdFor(name: string, scheme: IdScheme): Id {
  if (scheme === 'name') return guidForName(name);
  const m = ORDINAL.exec(name);
  if (!m) throw new RangeError(`the spread id scheme needs a name <set>-<ordinal> (a StatefulSet pod's), got ${JSON.stringify(name)}`);
  return spreadId(m[1]!, Number(m[2]!));
}

export function spreadId(set: string, ordinal: number): Id {
  return fromBigInt((toBigInt(guidForName(set)) + reverse128(BigInt(ordinal))) % RING_SIZE);
}

function reverse128(x: bigint): bigint {
  let r = 0n;
  for (let b = 0; b < 128; b++) {
    r = (r << 1n) | (x & 1n);
    x >>= 1n;
  }
  return r;
}

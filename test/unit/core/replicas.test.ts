import fc from 'fast-check';
import { compareCloseness } from '../../../services/node/src/core/id';
import { compareVersions, isReplica, majority, replicaSet } from '../../../services/node/src/core/replicas';
import { fullyConnectedStates, randomIds } from '../../helpers/ring';

describe('replica sets', () => {
  it('are the k numerically closest members, as every member computes them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 5 }), (n, seed, k) => {
        const ids = randomIds(n, seed);
        const states = fullyConnectedStates(ids);
        const key = randomIds(1, seed + 5)[0]!;
        const want = [...ids].sort((a, b) => compareCloseness(key, a, b)).slice(0, k);
        for (const id of want) {
          expect(replicaSet(states.get(id)!, key, k).map((h) => h.id)).toEqual(want);
          expect(isReplica(states.get(id)!, key, k)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('can leave out the node that is leaving', () => {
    const ids = randomIds(30, 3);
    const states = fullyConnectedStates(ids);
    const key = randomIds(1, 4)[0]!;
    const [first, ...rest] = [...ids].sort((a, b) => compareCloseness(key, a, b));
    expect(replicaSet(states.get(first!)!, key, 3, first).map((h) => h.id)).toEqual(rest.slice(0, 3));
  });

  it('majority of k', () => {
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3]);
  });

  it('last writer wins by version, then writer, and a tombstone beats its twin', () => {
    const a = { version: 2, writer: 'a'.repeat(32), tombstone: false };
    expect(compareVersions(a, { ...a, version: 1 })).toBe(1);
    expect(compareVersions(a, { ...a, writer: 'b'.repeat(32) })).toBe(-1);
    expect(compareVersions({ ...a, tombstone: true }, a)).toBe(1);
    expect(compareVersions(a, { ...a })).toBe(0);
  });
});

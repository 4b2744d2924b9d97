import fc from 'fast-check';
import { RING_SIZE, clockwiseDistance, compareCloseness, fromBigInt, type Id } from '../../../services/node/src/core/id';
import { LeafSet } from '../../../services/node/src/core/leaf-set';
import { handle, randomIds } from '../../helpers/ring';

function nearest(self: Id, others: Id[], half: number, side: 'left' | 'right'): Id[] {
  const dist = (id: Id) => (side === 'right' ? clockwiseDistance(self, id) : clockwiseDistance(id, self));
  return [...others].sort((a, b) => (dist(a) < dist(b) ? -1 : 1)).slice(0, half);
}

describe('LeafSet', () => {
  it('admissible() keeps just the candidates that would be members if all were inserted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 1000 }), (members, candidates, seed) => {
        const [self, ...others] = randomIds(members + candidates + 1, seed);
        const ls = new LeafSet(handle(self!), 16);
        for (const id of others.slice(0, members)) ls.insert(handle(id));
        const offered = others.slice(members).map(handle);
        const all = new LeafSet(handle(self!), 16);
        for (const id of others) all.insert(handle(id));
        const expected = offered.filter((n) => !ls.has(n.id) && all.has(n.id)).map((n) => n.id);
        expect(ls.admissible(offered).map((n) => n.id)).toEqual(expected);
        // Never more than the places there are.
        expect(ls.admissible(offered).length).toBeLessThanOrEqual(16);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the |L|/2 nearest on each side, nearest first, whatever the insertion order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 1000 }), (n, seed) => {
        const [self, ...others] = randomIds(n + 1, seed);
        const ls = new LeafSet(handle(self!), 16);
        for (const id of others) ls.insert(handle(id));
        expect(ls.rightSide().map((h) => h.id)).toEqual(nearest(self!, others, 8, 'right'));
        expect(ls.leftSide().map((h) => h.id)).toEqual(nearest(self!, others, 8, 'left'));
      }),
      { numRuns: 200 },
    );
  });

  it('evicts the farthest member across the wrap-around of the ring', () => {
    const self = fromBigInt(RING_SIZE - 5n);
    const ls = new LeafSet(handle(self), 4);
    // Clockwise neighbours of a node near the top wrap to small ids.
    for (const v of [10n, 20n, 30n]) ls.insert(handle(fromBigInt(v)));
    expect(ls.rightSide().map((h) => h.id)).toEqual([fromBigInt(10n), fromBigInt(20n)]);
    ls.insert(handle(fromBigInt(RING_SIZE - 1n)));
    expect(ls.rightSide().map((h) => h.id)).toEqual([fromBigInt(RING_SIZE - 1n), fromBigInt(10n)]);
    expect(ls.leftSide().map((h) => h.id)).toEqual([fromBigInt(30n), fromBigInt(20n)]);
  });

  it('a removal makes room, and re-insertion restores the set', () => {
    const [self, ...others] = randomIds(30, 7);
    const ls = new LeafSet(handle(self!), 8);
    others.forEach((id) => ls.insert(handle(id)));
    const before = ls.members().map((h) => h.id).sort();
    const victim = ls.rightSide()[0]!.id;
    expect(ls.remove(victim)).toBe(true);
    expect(ls.has(victim)).toBe(false);
    expect(ls.rightSide()).toHaveLength(3);
    ls.insert(handle(victim));
    expect(ls.members().map((h) => h.id).sort()).toEqual(before);
  });

  it('covers the whole ring while a side is not full, and only its span once full', () => {
    const ids = randomIds(40, 3);
    const [self, ...others] = ids;
    const ls = new LeafSet(handle(self!), 16);
    others.slice(0, 5).forEach((id) => ls.insert(handle(id)));
    expect(ls.covers(fromBigInt(12345n))).toBe(true);
    others.forEach((id) => ls.insert(handle(id)));
    expect(ls.isFull()).toBe(true);
    const leftmost = ls.leftSide()[7]!.id;
    const rightmost = ls.rightSide()[7]!.id;
    expect(ls.covers(leftmost)).toBe(true);
    expect(ls.covers(rightmost)).toBe(true);
    const outside = others.filter((id) => !ls.has(id));
    for (const id of outside) expect(ls.covers(id)).toBe(false);
  });

  it('closest() is the numerically closest of self and members', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1000 }), (n, seed) => {
        const [self, ...others] = randomIds(n + 1, seed);
        const key = randomIds(1, seed + 99991)[0]!;
        const ls = new LeafSet(handle(self!), 8);
        others.forEach((id) => ls.insert(handle(id)));
        const candidates = [self!, ...ls.members().map((h) => h.id)];
        const best = candidates.reduce((b, id) => (compareCloseness(key, id, b) < 0 ? id : b));
        expect(ls.closest(key).id).toBe(best);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects an odd or tiny size', () => {
    expect(() => new LeafSet(handle(fromBigInt(1n)), 7)).toThrow(RangeError);
    expect(() => new LeafSet(handle(fromBigInt(1n)), 0)).toThrow(RangeError);
  });
});

import fc from 'fast-check';
import { LeafSet } from '../../../services/node/src/core/leaf-set';
import { DEFAULT_MAINTENANCE_PLAN, leafSetEdges, maintenanceTargets } from '../../../services/node/src/core/maintenance';
import { handle, randomIds } from '../../helpers/ring';

function fullLeafSet(members: number, size: number, seed: number): LeafSet {
  const [self, ...others] = randomIds(members + 1, seed);
  const ls = new LeafSet(handle(self!), size);
  for (const id of others) ls.insert(handle(id));
  return ls;
}

describe('maintenanceTargets', () => {
  it('always includes the nearest member on each side, and only members', () => {
    fc.assert(
      fc.property(fc.integer({ min: 17, max: 80 }), fc.integer({ min: 1, max: 1000 }), fc.nat(10_000), (n, seed, round) => {
        const ls = fullLeafSet(n, 16, seed);
        const targets = maintenanceTargets(ls, round);
        const ids = new Set(targets.map((t) => t.id));
        expect(ids.has(ls.leftSide()[0]!.id)).toBe(true);
        expect(ids.has(ls.rightSide()[0]!.id)).toBe(true);
        for (const t of targets) expect(ls.has(t.id)).toBe(true);
        expect(ids.size).toBe(targets.length);
        expect(targets.length).toBe(2 * DEFAULT_MAINTENANCE_PLAN.nearPerSide + DEFAULT_MAINTENANCE_PLAN.rotating);
      }),
      { numRuns: 200 },
    );
  });

  it('reaches every member within ceil(rest / rotating) consecutive rounds, from any round', () => {
    fc.assert(
      fc.property(fc.integer({ min: 17, max: 80 }), fc.integer({ min: 1, max: 1000 }), fc.nat(10_000), (n, seed, first) => {
        const ls = fullLeafSet(n, 16, seed);
        const members = ls.members();
        const rest = members.length - 2 * DEFAULT_MAINTENANCE_PLAN.nearPerSide;
        const rounds = Math.ceil(rest / DEFAULT_MAINTENANCE_PLAN.rotating);
        const seen = new Set<string>();
        for (let r = first; r < first + rounds; r++) for (const t of maintenanceTargets(ls, r)) seen.add(t.id);
        expect(seen.size).toBe(members.length);
      }),
      { numRuns: 200 },
    );
  });

  it('contacts fewer than a third of a full 16-member leaf set per round', () => {
    const ls = fullLeafSet(200, 16, 5);
    expect(ls.members()).toHaveLength(16);
    expect(maintenanceTargets(ls, 0).length).toBeLessThanOrEqual(5);
  });

  it('contacts every member while the leaf set is not full', () => {
    const ls = fullLeafSet(6, 16, 9);
    expect(ls.isFull()).toBe(false);
    expect(maintenanceTargets(ls, 3).map((t) => t.id).sort()).toEqual(ls.members().map((m) => m.id).sort());
  });

  it('handles a ring small enough that members sit on both sides', () => {
    const ls = fullLeafSet(15, 16, 11); // 16 nodes, |L| = 16: each side holds 8 of the 15 others
    expect(ls.isFull()).toBe(true);
    const seen = new Set<string>();
    for (let r = 0; r < 5; r++) for (const t of maintenanceTargets(ls, r)) seen.add(t.id);
    expect(seen.size).toBe(15);
  });
});

describe('leafSetEdges', () => {
  it('names the farthest member of each side', () => {
    const ls = fullLeafSet(40, 8, 13);
    const edges = leafSetEdges(ls).map((e) => e.id);
    expect(edges).toEqual([ls.leftSide()[3]!.id, ls.rightSide()[3]!.id]);
  });

  it('is empty for a node alone', () => {
    const ls = fullLeafSet(0, 8, 1);
    expect(leafSetEdges(ls)).toEqual([]);
  });
});

import fc from 'fast-check';
import { SortedIds } from '../../../services/node/src/store/sorted-ids';
import { Rng } from '../../../services/node/src/core/rng';

/** Ids >= from, ascending, from the index. */
function from(ids: SortedIds, start: string, limit = Infinity): string[] {
  const out: string[] = [];
  ids.walk(start, (id) => {
    out.push(id);
    return out.length < limit;
  });
  return out;
}

describe('SortedIds', () => {
  it('keeps ascending order through inserts and deletes across many chunk splits', () => {
    const rng = new Rng(7);
    const ids = new SortedIds();
    const truth = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = rng.id();
      ids.insert(id);
      truth.add(id);
      if (i % 3 === 0) {
        const gone = [...truth][rng.int(truth.size)]!;
        expect(ids.delete(gone)).toBe(true);
        truth.delete(gone);
      }
    }
    expect(ids.delete('f'.repeat(31) + 'e')).toBe(truth.has('f'.repeat(31) + 'e'));
    const sorted = [...truth].sort();
    expect(ids.size).toBe(sorted.length);
    expect(from(ids, '0'.repeat(32))).toEqual(sorted);
    const probe = rng.id();
    expect(from(ids, probe, 100)).toEqual(sorted.filter((id) => id >= probe).slice(0, 100));
  });

  it('matches a sorted array for any sequence of operations', () => {
    const hex = fc.integer({ min: 0, max: 4095 }).map((n) => n.toString(16).padStart(32, '0'));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), hex), { maxLength: 300 }), hex, (ops, start) => {
        const ids = new SortedIds();
        const truth = new Set<string>();
        for (const [insert, id] of ops) {
          if (insert) {
            ids.insert(id);
            truth.add(id);
          } else expect(ids.delete(id)).toBe(truth.delete(id));
        }
        const sorted = [...truth].sort();
        expect(ids.size).toBe(sorted.length);
        expect(from(ids, start)).toEqual(sorted.filter((id) => id >= start));
      }),
      { numRuns: 300 },
    );
  });
});

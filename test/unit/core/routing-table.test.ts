import { digit, sharedPrefixLength } from '../../../services/node/src/core/id';
import { RoutingTable } from '../../../services/node/src/core/routing-table';
import { handle, randomIds } from '../../helpers/ring';

describe('RoutingTable', () => {
  const self = '3a' + '0'.repeat(30);

  it('puts a node in the row of its shared prefix and the column of its next digit', () => {
    const t = new RoutingTable(self);
    const other = '3f' + '1'.repeat(30);
    expect(t.consider(handle(other))).toBe(true);
    expect(t.get(1, 0xf)?.node.id).toBe(other);
    expect(t.row(1)).toHaveLength(1);
    expect(t.size).toBe(1);
    expect(t.rowsFilled()).toBe(1);
  });

  it('never stores itself', () => {
    const t = new RoutingTable(self);
    expect(t.consider(handle(self))).toBe(false);
    expect(t.size).toBe(0);
  });

  it('of two candidates for a slot, the one with the lower RTT wins', () => {
    const t = new RoutingTable(self);
    const far = '7' + '1'.repeat(31);
    const near = '7' + '2'.repeat(31);
    t.consider(handle(far), 40);
    expect(t.consider(handle(near), 80)).toBe(false);
    expect(t.get(0, 7)?.node.id).toBe(far);
    expect(t.consider(handle(near), 5)).toBe(true);
    expect(t.get(0, 7)?.node.id).toBe(near);
    expect(t.size).toBe(1);
  });

  it('an unmeasured candidate fills an empty slot but never displaces a measured one', () => {
    const t = new RoutingTable(self);
    t.consider(handle('8' + '1'.repeat(31)), 10);
    expect(t.consider(handle('8' + '2'.repeat(31)))).toBe(false);
    expect(t.get(0, 8)?.node.id).toBe('8' + '1'.repeat(31));
  });

  it('every entry sits where its prefix and digit say, and removal frees the slot', () => {
    const t = new RoutingTable(self);
    const ids = randomIds(500, 11);
    ids.forEach((id) => t.consider(handle(id)));
    for (const { row, column, entry } of t.entries()) {
      expect(sharedPrefixLength(self, entry.node.id)).toBe(row);
      expect(digit(entry.node.id, row)).toBe(column);
    }
    const first = t.entries()[0]!.entry.node.id;
    expect(t.remove(first)).toBe(true);
    expect(t.has(first)).toBe(false);
    expect(t.remove(first)).toBe(false);
  });
});

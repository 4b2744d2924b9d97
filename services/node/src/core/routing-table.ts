import { DIGITS, RADIX, digit, sharedPrefixLength, type Id } from './id';
import { UNKNOWN_PROXIMITY, type NodeHandle } from './node-handle';

export interface RoutingEntry {
  readonly node: NodeHandle;
  /** Measured round-trip time in ms, or Infinity when not measured. */
  readonly proximity: number;
}

/**
 * Pastry's routing table: row r holds nodes that share exactly r leading digits with this
 * node, in the column of their (r+1)-th digit. Of several candidates for a slot the one
 * with the lower measured RTT wins. Rows are allocated lazily: a ring of N nodes fills only
 * about log16(N) of the 32 rows, which matters at simulator scale.
 */
export class RoutingTable {
  private readonly rows: (RoutingEntry | undefined)[][] = [];
  private count = 0;

  constructor(readonly selfId: Id) {}

  get size(): number {
    return this.count;
  }

  get(row: number, column: number): RoutingEntry | undefined {
    return this.rows[row]?.[column];
  }

  has(id: Id): boolean {
    if (id === this.selfId) return false;
    const row = sharedPrefixLength(this.selfId, id);
    return this.rows[row]?.[digit(id, row)]?.node.id === id;
  }

  /** Places the candidate if its slot is empty or it is nearer than the occupant. */
  consider(node: NodeHandle, proximity: number = UNKNOWN_PROXIMITY): boolean {
    if (node.id === this.selfId) return false;
    const row = sharedPrefixLength(this.selfId, node.id);
    const column = digit(node.id, row);
    const slots = this.rows[row] ?? (this.rows[row] = new Array<RoutingEntry | undefined>(RADIX));
    const current = slots[column];
    if (current === undefined) {
      slots[column] = { node, proximity };
      this.count++;
      return true;
    }
    if (current.node.id === node.id) {
      const better = Math.min(current.proximity, proximity);
      const moved = current.node.address !== node.address;
      if (!moved && better === current.proximity) return false;
      slots[column] = { node, proximity: moved ? proximity : better };
      return true;
    }
    if (proximity < current.proximity) {
      slots[column] = { node, proximity };
      return true;
    }
    return false;
  }

  remove(id: Id): boolean {
    if (id === this.selfId) return false;
    const row = sharedPrefixLength(this.selfId, id);
    const slots = this.rows[row];
    if (!slots) return false;
    const column = digit(id, row);
    if (slots[column]?.node.id !== id) return false;
    slots[column] = undefined;
    this.count--;
    return true;
  }

  /** Rows holding at least one entry, lowest first. */
  filledRows(): number[] {
    const out: number[] = [];
    this.rows.forEach((slots, row) => {
      if (slots?.some((e) => e !== undefined)) out.push(row);
    });
    return out;
  }

  /**
   * Of the nodes a peer named for row `row`, those that could take a slot of this table's
   * row by being nearer than its occupant: they belong in the row, and their slot is empty
   * or held by another node. Measuring them and offering the RTT to consider() keeps the
   * nearer node of each slot (Castro et al.'s routing-table maintenance), so a table built
   * at join time grows more local as the ring lives.
   */
  challengers(row: number, nodes: readonly NodeHandle[]): NodeHandle[] {
    const out: NodeHandle[] = [];
    for (const n of nodes) {
      if (n.id === this.selfId || sharedPrefixLength(this.selfId, n.id) !== row) continue;
      if (this.rows[row]?.[digit(n.id, row)]?.node.id === n.id) continue;
      out.push(n);
    }
    return out;
  }

  /** The entries of one row (empty slots omitted). */
  row(index: number): RoutingEntry[] {
    const slots = this.rows[index];
    if (!slots) return [];
    return slots.filter((e): e is RoutingEntry => e !== undefined);
  }

  /** Every entry with its position. */
  entries(): { row: number; column: number; entry: RoutingEntry }[] {
    const out: { row: number; column: number; entry: RoutingEntry }[] = [];
    this.rows.forEach((slots, row) => {
      if (!slots) return;
      slots.forEach((entry, column) => {
        if (entry) out.push({ row, column, entry });
      });
    });
    return out;
  }

  rowsFilled(): number {
    let filled = 0;
    for (let r = 0; r < DIGITS; r++) if (this.rows[r]?.some((e) => e !== undefined)) filled++;
    return filled;
  }
}

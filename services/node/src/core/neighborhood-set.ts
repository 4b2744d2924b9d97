import type { Id } from './id';
import type { NodeHandle } from './node-handle';

/** The M members nearest by measured proximity (RTT), nearest first. */
export class NeighborhoodSet {
  private readonly members: { node: NodeHandle; proximity: number }[] = [];

  constructor(
    readonly selfId: Id,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(`neighbourhood set size must be a non-negative integer, got ${size}`);
    }
  }

  consider(node: NodeHandle, proximity: number): boolean {
    if (node.id === this.selfId || !Number.isFinite(proximity)) return false;
    const existing = this.members.findIndex((m) => m.node.id === node.id);
    if (existing >= 0) {
      const old = this.members[existing]!;
      if (old.proximity === proximity && old.node.address === node.address) return false;
      this.members.splice(existing, 1);
    }
    let i = this.members.length;
    while (i > 0 && this.members[i - 1]!.proximity > proximity) i--;
    if (i >= this.size) return existing >= 0;
    this.members.splice(i, 0, { node, proximity });
    if (this.members.length > this.size) this.members.pop();
    return true;
  }

  /** Members with their measured RTT, nearest first. */
  entries(): readonly { node: NodeHandle; proximity: number }[] {
    return this.members;
  }

  has(id: Id): boolean {
    return this.members.some((m) => m.node.id === id);
  }

  remove(id: Id): boolean {
    const i = this.members.findIndex((m) => m.node.id === id);
    if (i < 0) return false;
    this.members.splice(i, 1);
    return true;
  }

  nodes(): NodeHandle[] {
    return this.members.map((m) => m.node);
  }
}

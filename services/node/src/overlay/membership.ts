import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { OVERLAY } from '../constants';
import type { OverlayContext } from './context';

/** A node entered or left the leaf set. */
export type LeafSetListener = (node: NodeHandle, joined: boolean) => void;

/**
 * The one place where nodes enter and leave this node's tables. Nodes heard from directly
 * are learned at once; nodes only named by others (hearsay) enter the routing table but must
 * answer a probe before they take a leaf-set place, so a fake or dead name cannot displace a
 * live neighbour. Leaf-set changes are reported to the applications (the `update` upcall).
 */
export class Membership {
  /** Nodes found dead, most recent last: partition heal probes them. */
  private readonly dead = new Map<Id, { node: NodeHandle; at: number }>();

  constructor(
    private readonly ctx: OverlayContext,
    private readonly onLeafSetChange: LeafSetListener,
  ) {}

  /** The node contacted us or answered us: it is alive. */
  learnDirect(node: NodeHandle, rttMs?: number): void {
    const { state, rtt } = this.ctx;
    if (node.id === this.ctx.self.id) return;
    if (rttMs !== undefined) rtt.observe(node.id, rttMs);
    const isNew = !state.knows(node.id);
    this.dead.delete(node.id);
    this.diff(() => state.learn(node, this.ctx.now(), { direct: true, proximity: rttMs }));
    if (isNew && state.knows(node.id)) this.ctx.hooks.onMembership?.('join', node);
  }

  /**
   * Nodes named by a peer. Returns those that would enter the leaf set: the caller probes
   * them, and they enter once they answer.
   */
  learnHearsay(nodes: readonly NodeHandle[]): NodeHandle[] {
    const { state } = this.ctx;
    const now = this.ctx.now();
    const candidates: NodeHandle[] = [];
    for (const n of nodes) {
      // A node this node confirmed dead comes back only by talking to it: stale tables
      // elsewhere keep naming dead nodes long after the routing state's own memory ends.
      if (n.id === this.ctx.self.id || state.isRecentlyDead(n.id, now) || this.isRememberedDead(n.id)) continue;
      state.learn(n, now, { leafSet: false });
      if (state.leafSet.wouldAdmit(n)) candidates.push(n);
    }
    return candidates;
  }

  /** Removes a node found dead or gone; returns whether the leaf set changed. */
  forget(node: NodeHandle, event: 'failure' | 'leave'): boolean {
    const { state } = this.ctx;
    const known = state.knows(node.id);
    const changed = this.diff(() => state.forget(node.id, this.ctx.now()));
    this.ctx.rtt.forget(node.id);
    this.ctx.env.disconnect?.(node);
    if (event === 'failure') this.rememberDead(node);
    if (known) this.ctx.hooks.onMembership?.(event, node);
    return changed;
  }

  isRememberedDead(id: Id): boolean {
    const d = this.dead.get(id);
    return d !== undefined && d.at >= this.ctx.now() - OVERLAY.deadMemoryMs;
  }

  /** Recently dead nodes, most recent first. */
  recentlyDead(): NodeHandle[] {
    const horizon = this.ctx.now() - OVERLAY.deadMemoryMs;
    for (const [id, d] of this.dead) if (d.at < horizon) this.dead.delete(id);
    return [...this.dead.values()].map((d) => d.node).reverse();
  }

  private rememberDead(node: NodeHandle): void {
    this.dead.delete(node.id);
    this.dead.set(node.id, { node, at: this.ctx.now() });
    while (this.dead.size > OVERLAY.maxRememberedDead) this.dead.delete(this.dead.keys().next().value!);
  }

  /** Runs a change and reports who entered or left the leaf set. */
  private diff(change: () => boolean): boolean {
    const before = this.ctx.state.leafSet.members();
    const changed = change();
    if (!changed) return false;
    const after = this.ctx.state.leafSet.members();
    const was = new Set(before.map((n) => n.id));
    const is = new Set(after.map((n) => n.id));
    for (const n of after) if (!was.has(n.id)) this.onLeafSetChange(n, true);
    for (const n of before) if (!is.has(n.id)) this.onLeafSetChange(n, false);
    return true;
  }
}

import type { NodeHandle } from '../core/node-handle';
import { OVERLAY } from '../constants';
import { fromNodeInfo, fromNodeInfos } from './codec';
import type { OverlayContext } from './context';
import type { Join } from './join';
import type { Membership } from './membership';

/**
 * Merges rings that a partition split (after FreePastry's PartitionHandler). Seeds are
 * otherwise contacted only at start-up and dead nodes are dropped from every table, so
 * without this the halves of a split ring stay two rings forever. Each round probes a few
 * of the recently dead nodes and the seeds this node does not know; one that answers from
 * outside this node's leaf set is used to join towards this node's own id again, which
 * hands over the true leaf set; leaf-set exchange spreads the merge from there.
 */
export class PartitionHeal {
  private running: Promise<void> | undefined;
  /** Addresses probed lately, not probed again before the time given. */
  private readonly quiet = new Map<string, number>();
  readonly stats = { probes: 0, merges: 0 };

  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly join: Join,
  ) {}

  round(): Promise<void> {
    this.running ??= this.runRound().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Candidates: recently dead nodes and seed addresses no known node has. */
  candidates(): NodeHandle[] {
    const known = new Set(this.ctx.state.knownNodes().map((n) => n.address));
    const seeds = this.ctx.config.seeds.filter((a) => a !== this.ctx.self.address && !known.has(a)).map((address) => ({ id: '', address, name: '' }));
    const now = this.ctx.now();
    for (const [a, until] of this.quiet) if (until <= now) this.quiet.delete(a);
    return [...this.membership.recentlyDead(), ...seeds].filter((n) => !this.quiet.has(n.address));
  }

  private async runRound(): Promise<void> {
    if (!this.ctx.ready) return;
    const pool = this.candidates();
    for (let i = 0; i < OVERLAY.partitionProbesPerRound && pool.length > 0 && this.ctx.ready; i++) {
      const [candidate] = pool.splice(Math.floor(this.ctx.env.random() * pool.length), 1);
      await this.probe(candidate!);
    }
  }

  private async probe(candidate: NodeHandle): Promise<void> {
    this.stats.probes++;
    this.ctx.count('partition_probe');
    let responder: NodeHandle;
    try {
      const res = await this.ctx.env.call(candidate, 'ping', { sender: this.ctx.selfInfo }, { deadline: this.ctx.deadline() });
      if (!res.ready) return;
      responder = fromNodeInfo(res.responder, 'responder');
    } catch {
      return;
    }
    if (responder.id === this.ctx.self.id) return;
    // A node we took for dead, or never knew, answers: it may be in another ring. One that
    // is in our tables is in ours.
    const wasDead = this.membership.recentlyDead().some((n) => n.id === responder.id);
    const unknown = !this.ctx.state.knows(responder.id);
    if (!wasDead && !unknown) return;
    this.membership.learnDirect(responder);
    this.quiet.set(candidate.address, this.ctx.now() + (wasDead ? OVERLAY.partitionQuietMs : OVERLAY.seedQuietMs));
    // A seed this node merely does not know (a large ring: seeds need not be in every table)
    // whose leaf set has nodes this node knows is in this ring: a join through it would only
    // redo this node's join, which costs the ring far more than this one exchange.
    if (!wasDead && (await this.sameRing(responder))) return;
    try {
      await this.join.joinVia(responder);
      this.stats.merges++;
      this.ctx.log.info('partition_merge', { via: responder.name || responder.address });
    } catch (error) {
      this.ctx.log.debug('partition_merge_failed', { via: responder.name || responder.address, error: String(error) });
    }
  }

  /** Whether `peer`'s leaf set names a node of this node's tables (the two of them aside). */
  private async sameRing(peer: NodeHandle): Promise<boolean> {
    try {
      const res = await this.ctx.env.call(peer, 'exchangeLeafSet', { sender: this.ctx.selfInfo, leafSet: [this.ctx.selfInfo] }, { deadline: this.ctx.deadline() });
      return fromNodeInfos(res.leafSet, 'leafSet').some((n) => n.id !== peer.id && n.id !== this.ctx.self.id && this.ctx.state.knows(n.id));
    } catch {
      return false;
    }
  }
}

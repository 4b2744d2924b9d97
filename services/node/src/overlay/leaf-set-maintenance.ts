import type { NodeHandle } from '../core/node-handle';
import { leafSetEdges, maintenanceTargets } from '../core/maintenance';
import { LIMITS } from '../constants';
import type { LeafSetMessage } from '../gen/pastry/v1/peer';
import { fromNodeInfo, fromNodeInfos, toNodeInfo } from './codec';
import type { OverlayContext } from './context';
import type { FailureDetector } from './failure-detector';
import type { Membership } from './membership';

/**
 * Keeps the leaf set exact: each round exchanges leaf sets with the nearest member on each
 * side and, in turn, a few others (core/maintenance.ts), under a timeout adapted to each
 * member's RTT. A member that misses it becomes a suspect; a member lost is replaced by
 * asking the farthest members, who know the nodes just beyond. Rounds never overlap.
 */
export class LeafSetMaintenance {
  private rounds = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly detector: FailureDetector,
  ) {}

  get roundsRun(): number {
    return this.rounds;
  }

  /** One round; a call while one runs shares it. */
  round(): Promise<void> {
    this.running ??= this.runRound().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runRound(): Promise<void> {
    if (!this.ctx.ready) return;
    this.rounds++;
    const targets = maintenanceTargets(this.ctx.state.leafSet, this.rounds).slice(0, LIMITS.maintenanceFanout);
    await Promise.all(targets.map((n) => this.exchangeWith(n)));
  }

  message(): LeafSetMessage {
    return { sender: this.ctx.selfInfo, leafSet: [this.ctx.selfInfo, ...this.ctx.state.leafSet.members().map(toNodeInfo)] };
  }

  async exchangeWith(n: NodeHandle, kind = 'exchange_leaf_set'): Promise<void> {
    const t0 = this.ctx.now();
    this.ctx.count(kind);
    try {
      const res = await this.ctx.env.call(n, 'exchangeLeafSet', this.message(), { deadline: t0 + this.ctx.rtt.timeoutMs(n.id) });
      this.take(res, this.ctx.now() - t0);
    } catch (error) {
      this.detector.peerFailed(n, error);
    }
  }

  /** A member left the leaf set: the farthest members know who takes its place. */
  async refill(): Promise<void> {
    if (!this.ctx.ready) return;
    await Promise.all(leafSetEdges(this.ctx.state.leafSet).map((n) => this.exchangeWith(n, 'leaf_set_repair')));
  }

  /**
   * A peer's answer to our call: the sender is alive; its members are hearsay, probed
   * before they take a leaf-set place.
   */
  take(message: LeafSetMessage, rttMs?: number): void {
    const sender = fromNodeInfo(message.sender, 'sender');
    const members = fromNodeInfos(message.leafSet, 'leafSet');
    this.membership.learnDirect(sender, rttMs);
    this.detector.admit(this.membership.learnHearsay(members.filter((m) => m.id !== sender.id)));
  }

  /**
   * A request names its sender, which proves nothing about who is at that address: a
   * sender not known at that address is probed before it takes a leaf-set place.
   */
  takeRequest(message: LeafSetMessage): void {
    const sender = fromNodeInfo(message.sender, 'sender');
    const members = fromNodeInfos(message.leafSet, 'leafSet');
    this.acceptSender(sender);
    this.detector.admit(this.membership.learnHearsay(members.filter((m) => m.id !== sender.id)));
  }

  acceptSender(sender: NodeHandle): void {
    const known = this.ctx.state.leafSet.members().find((m) => m.id === sender.id);
    if (known && known.address === sender.address) this.membership.learnDirect(sender);
    // Probed at the address it gave, even if it was found dead there or elsewhere: a pod
    // that restarted (perhaps at a new address) must get its place back.
    else this.detector.admit([sender]);
  }

  /** Answers an exchange: learn the sender and its leaf set, reply with ours. */
  handleExchange(req: LeafSetMessage): LeafSetMessage {
    this.takeRequest(req);
    return this.message();
  }
}

import type { NodeHandle } from '../core/node-handle';
import { adoptJoinState, joinContribution } from '../core/join';
import { LIMITS, OVERLAY } from '../constants';
import { CODES, codeOf, InvalidArgumentError, UnavailableError } from '../errors';
import type { JoinRequest, JoinResponse, LeafSetMessage } from '../gen/pastry/v1/peer';
import { fromNodeInfo, fromNodeInfos, toNodeInfo } from './codec';
import type { OverlayContext } from './context';
import { isTransportFailure } from './env';
import type { FailureDetector } from './failure-detector';
import type { LeafSetMaintenance } from './leaf-set-maintenance';
import type { Membership } from './membership';

/**
 * The Pastry join, both sides. The joiner asks a seed to route a join towards its own id;
 * every node on the path hands it routing-table rows and the root its leaf set; the joiner
 * then announces itself to the nodes it learned, which answer with their leaf sets. The
 * same exchange merges two rings after a partition (partition-heal.ts).
 */
export class Join {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly detector: FailureDetector,
    private readonly leafSets: LeafSetMaintenance,
  ) {}

  /** One attempt through the seeds; the founder creates a ring when no seed is in one. */
  async tryJoin(): Promise<boolean> {
    const seeds = this.ctx.config.seeds.filter((s) => s !== this.ctx.self.address);
    for (const address of seeds) {
      if (this.ctx.stopped) return false;
      const seed: NodeHandle = { id: '', address, name: '' };
      try {
        const ping = await this.ctx.env.call(seed, 'ping', { sender: this.ctx.selfInfo }, { deadline: this.ctx.deadline() });
        if (!ping.ready) continue;
        await this.joinVia(fromNodeInfo(ping.responder, 'responder'));
        return true;
      } catch (error) {
        this.ctx.log.debug('join_attempt_failed', { seed: address, error: String(error) });
      }
    }
    // Only the founder creates a ring, and only when no seed is in one: a StatefulSet
    // started in parallel forms one ring, never several.
    if (this.ctx.config.founder && !this.ctx.stopped) {
      this.ctx.joined = true;
      this.ctx.log.info('ring_created', { seeds });
      return true;
    }
    return false;
  }

  /**
   * Routes a join for this node's id through `via` and takes in what the path returns. The
   * node counts as joined as soon as it holds the root's leaf set, before it announces
   * itself: peers that learn of it early must find it routing, not refusing.
   */
  async joinVia(via: NodeHandle): Promise<NodeHandle | undefined> {
    const res = await this.ctx.env.call(via, 'join', { joiner: this.ctx.selfInfo, path: [] }, { deadline: this.ctx.deadline(4) });
    if (res.errorCode !== CODES.OK) throw new UnavailableError(`join refused: ${res.errorMessage}`);
    const rows = res.rows.map((r) => ({ nodes: fromNodeInfos(r.entries, 'rows') }));
    const leafSet = fromNodeInfos(res.leafSet, 'leafSet');
    const neighborhood = fromNodeInfos(res.neighborhoodSet, 'neighborhoodSet');
    const root = res.root ? fromNodeInfo(res.root, 'root') : undefined;
    // The join path is trusted as Pastry trusts it: the root's leaf set is this node's leaf
    // set to be. Every node learned is announced to next, so a dead one is soon found out.
    const learned = adoptJoinState(this.ctx.state, { rows, leafSet }, neighborhood, this.ctx.now());
    this.ctx.joined = true;
    await this.announce(leafSet.concat(learned.filter((n) => !leafSet.some((l) => l.id === n.id))));
    this.ctx.log.info('joined', { via: via.name || via.address, root: root?.name ?? '', learned: learned.length });
    return root;
  }

  /** Tells nodes this node exists; learns their leaf sets in return. */
  private async announce(nodes: NodeHandle[]): Promise<void> {
    const targets = nodes.filter((n) => n.id !== this.ctx.self.id).slice(0, LIMITS.maxAnnounceFanout);
    await Promise.all(
      targets.map(async (n) => {
        const t0 = this.ctx.now();
        try {
          const res: LeafSetMessage = await this.ctx.env.call(n, 'announce', { sender: this.ctx.selfInfo }, { deadline: this.ctx.deadline() });
          this.leafSets.take(res, this.ctx.now() - t0);
        } catch (error) {
          this.detector.peerFailed(n, error);
        }
      }),
    );
  }

  /** Routes a join towards the joiner's id; each hop adds its rows, the root its leaf set. */
  async handleJoin(req: JoinRequest, deadline: number): Promise<JoinResponse> {
    const joiner = fromNodeInfo(req.joiner, 'joiner');
    if (req.path.length > LIMITS.maxHops) throw new InvalidArgumentError(`join path has ${req.path.length} entries, more than ${LIMITS.maxHops}`);
    req.path.forEach((p, i) => fromNodeInfo(p, `path[${i}]`));
    if (!this.ctx.ready) return refusal(new UnavailableError('this node is not in a ring yet'));
    const path = [...req.path, this.ctx.selfInfo];
    for (let attempt = 0; attempt <= LIMITS.maxRouteRetries; attempt++) {
      const decision = this.ctx.state.nextHop(joiner.id, new Set([...this.detector.suspected(), joiner.id]));
      if (decision.kind === 'deliver') return this.response(joinContribution(this.ctx.state, joiner.id, true), req.path.length === 0, path);
      if (path.length > LIMITS.maxHops) return refusal(new UnavailableError('join hop limit exceeded'));
      if (this.ctx.now() >= deadline - OVERLAY.hopMarginMs) return refusal(new UnavailableError('deadline exceeded while routing a join'));
      try {
        const res = await this.ctx.env.call(decision.node, 'join', { joiner: req.joiner, path }, { deadline: deadline - OVERLAY.hopMarginMs });
        if (res.errorCode !== CODES.OK) return res;
        const mine = joinContribution(this.ctx.state, joiner.id, false);
        res.rows.unshift(...mine.rows.map((r) => ({ index: r.index, entries: r.nodes.map(toNodeInfo) })));
        if (req.path.length === 0) res.neighborhoodSet = this.ctx.state.neighborhood.nodes().map(toNodeInfo);
        return res;
      } catch (error) {
        if (!isTransportFailure(error)) return refusal(error);
        this.detector.peerFailed(decision.node, error);
      }
    }
    return refusal(new UnavailableError('no live route towards the joiner'));
  }

  private response(c: ReturnType<typeof joinContribution>, isEntry: boolean, path: JoinResponse['path']): JoinResponse {
    return {
      rows: c.rows.map((r) => ({ index: r.index, entries: r.nodes.map(toNodeInfo) })),
      leafSet: c.leafSet.map(toNodeInfo),
      root: this.ctx.selfInfo,
      neighborhoodSet: isEntry ? this.ctx.state.neighborhood.nodes().map(toNodeInfo) : [],
      path,
      errorCode: CODES.OK,
      errorMessage: '',
    };
  }
}

/** A refusal travels back as data: never mistaken for a dead hop. */
function refusal(error: unknown): JoinResponse {
  const { code, message } = codeOf(error);
  return { rows: [], leafSet: [], root: undefined, neighborhoodSet: [], path: [], errorCode: code === CODES.OK ? CODES.UNAVAILABLE : code, errorMessage: message };
}

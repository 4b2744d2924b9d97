import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { OVERLAY } from '../constants';
import { fromNodeInfo } from './codec';
import type { OverlayContext } from './context';
import { isTransportFailure, sleep, type PeerCallError } from './env';
import type { Membership } from './membership';

/** What happens once a failure is confirmed: the repairs that follow it. */
export type FailureListener = (node: NodeHandle, leafSetChanged: boolean) => void;

/**
 * Suspicion before removal: a peer whose call failed at the transport is routed around at
 * once but stays in the tables until probes with the full timeout confirm it dead; a peer
 * that answers is cleared. Refusals are answers and never make a suspect. Also probes the
 * hearsay nodes that would enter the leaf set before they may.
 */
export class FailureDetector {
  private readonly suspects = new Set<Id>();
  private readonly admitting = new Set<Id>();

  constructor(
    private readonly ctx: OverlayContext,
    private readonly membership: Membership,
    private readonly onFailure: FailureListener,
  ) {}

  /** Peers routed around while a failure is confirmed. */
  suspected(): ReadonlySet<Id> {
    return this.suspects;
  }

  /** A call to `node` failed with `error`. */
  peerFailed(node: NodeHandle, error: unknown): void {
    if (!isTransportFailure(error) || this.ctx.stopped) return;
    if (this.suspects.has(node.id)) return;
    if (!this.ctx.state.knows(node.id)) return;
    this.suspects.add(node.id);
    void this.confirm(node, (error as PeerCallError).code).finally(() => this.suspects.delete(node.id));
  }

  /**
   * Pings `node`: 'ready' when it answered as itself and is in a ring (it is then learned),
   * 'alive' when it answered but is not in a ring yet, 'silent' otherwise.
   */
  async probe(node: NodeHandle, deadline: number, kind = 'probe'): Promise<'ready' | 'alive' | 'silent'> {
    this.ctx.count(kind);
    const t0 = this.ctx.now();
    try {
      const res = await this.ctx.env.call(node, 'ping', { sender: this.ctx.selfInfo }, { deadline });
      const responder = fromNodeInfo(res.responder, 'responder');
      if (responder.id !== node.id) return 'silent';
      if (!res.ready) return 'alive';
      this.membership.learnDirect(responder, this.ctx.now() - t0);
      return 'ready';
    } catch {
      return 'silent';
    }
  }

  /** Hearsay nodes that would take a leaf-set place: each enters once it answers a ping. */
  admit(nodes: readonly NodeHandle[]): void {
    for (const n of nodes) {
      if (this.admitting.has(n.id) || this.admitting.size >= OVERLAY.maxAdmissionProbes || this.ctx.stopped) continue;
      this.admitting.add(n.id);
      void this.probe(n, this.ctx.deadline(), 'admission_probe').finally(() => this.admitting.delete(n.id));
    }
  }

  private async confirm(node: NodeHandle, code: number): Promise<void> {
    for (let attempt = 0; attempt < OVERLAY.suspectProbes && !this.ctx.stopped; attempt++) {
      if (attempt > 0) await sleep(this.ctx.env, OVERLAY.suspectProbeGapMs * attempt);
      if ((await this.probe(node, this.ctx.deadline())) !== 'silent') {
        this.ctx.log.info('suspect_cleared', { peer: node.name || node.id });
        return;
      }
    }
    if (this.ctx.stopped) return;
    const leafSetChanged = this.membership.forget(node, 'failure');
    this.ctx.log.warn('peer_failed', { peer: node.name || node.id, address: node.address, code });
    this.onFailure(node, leafSetChanged);
  }
}

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
  /** Hearsay nodes that did not answer an admission probe, until when they are not probed again. */
  private readonly silentUntil = new Map<Id, number>();

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
    } catch (error) {
      this.ctx.log.debug('probe_failed', { kind, peer: node.name || node.id, address: node.address, error: String(error) });
      return 'silent';
    }
  }

  /**
   * Hearsay nodes that would take a leaf-set place: each enters once it answers a ping.
   * Only those that would be members if all answered are probed (after a failure a short
   * side would admit every node named); one that stayed silent is not probed again for a
   * while, so a dead node that stale leaf sets keep naming does not hold back the next one.
   */
  admit(nodes: readonly NodeHandle[]): void {
    if (nodes.length === 0 || this.ctx.stopped) return;
    const now = this.ctx.now();
    const fresh = nodes.filter((n) => (this.silentUntil.get(n.id) ?? -Infinity) <= now);
    for (const n of this.ctx.state.leafSet.admissible(fresh)) {
      if (this.admitting.has(n.id) || this.admitting.size >= OVERLAY.maxAdmissionProbes) continue;
      this.admitting.add(n.id);
      void this.probe(n, this.ctx.deadline(), 'admission_probe')
        .then((answer) => {
          this.ctx.log.debug('admission_probe', { peer: n.name || n.id, address: n.address, answer });
          if (answer === 'silent') this.rememberSilent(n.id);
        })
        .finally(() => this.admitting.delete(n.id));
    }
  }

  private rememberSilent(id: Id): void {
    const now = this.ctx.now();
    if (this.silentUntil.size >= OVERLAY.maxRememberedSilent) for (const [k, until] of this.silentUntil) if (until <= now) this.silentUntil.delete(k);
    if (this.silentUntil.size < OVERLAY.maxRememberedSilent) this.silentUntil.set(id, now + OVERLAY.admissionRetryMs);
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

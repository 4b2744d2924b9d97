import { idToBytes, sharedPrefixLength, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { LIMITS, OVERLAY } from '../constants';
import { CODES, codeOf, DeadlineExceededError, errorFromCode, InvalidArgumentError, UnavailableError } from '../errors';
import type { ForwardRequest, ForwardResponse } from '../gen/pastry/v1/peer';
import { fromNodeInfo, keyFromBytes, toNodeInfo } from './codec';
import type { Application, RoutedMessage, RouteOptions, RouteResult } from './common-api';
import type { OverlayContext } from './context';
import { isTimeout, isTransportFailure, PeerCallError } from './env';
import type { FailureDetector } from './failure-detector';

/**
 * Recursive routing: at each node the application's `forward` upcall runs, then the message
 * goes to the next hop (routing table, leaf set, rare case) or is delivered to the
 * application when this node is the key's root. A next hop that fails at the transport is
 * suspected and the next best candidate tried; a refusal is an answer and travels back as
 * data, so one lost node costs a retry, never a cascade of retries at every level.
 */
export class Router {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly detector: FailureDetector,
    private readonly app: (id: string) => Application | undefined,
  ) {}

  /** Routes from this node; the answer, or the typed error of whoever refused. */
  async route(app: string, key: Id, payload: Buffer, options: RouteOptions): Promise<RouteResult> {
    const res = await this.handleForward({ key: idToBytes(key), app, payload, hops: [] }, options.deadline, options.context);
    // A refusal still says how many hops were routed around before it.
    if (res.errorCode !== CODES.OK) throw Object.assign(errorFromCode(res.errorCode, res.errorMessage), { reroutes: res.reroutes });
    return { root: fromNodeInfo(res.root, 'root'), hops: res.hops.map((h, i) => fromNodeInfo(h, `hops[${i}]`)), reply: res.payload, reroutes: res.reroutes };
  }

  /** One node's part of routing a message. Never throws for what a peer sent: it answers. */
  async handleForward(req: ForwardRequest, deadline: number, context?: unknown): Promise<ForwardResponse> {
    const key = keyFromBytes(req.key);
    if (req.hops.length > LIMITS.maxNodesInMessage) throw new InvalidArgumentError(`hops has more than ${LIMITS.maxNodesInMessage} entries`);
    const hops = req.hops.map((h, i) => fromNodeInfo(h, `hops[${i}]`));
    if (!this.ctx.ready) return this.refusal(req, new UnavailableError('this node is not in a ring yet'));
    const app = this.app(req.app);
    if (!app) throw new InvalidArgumentError(`no application ${JSON.stringify(req.app)} on this node`);
    if (hops.length > LIMITS.maxHops) return this.refusal(req, new UnavailableError('hop limit exceeded'));
    const message: RoutedMessage = { key, app: req.app, payload: req.payload, hops, deadline };
    const skip = new Set<Id>(this.detector.suspected());
    /** Nodes this hop already tried and routed around. */
    const tried = new Set<Id>();
    // Whatever answers, it says how many hops this node routed around on the way.
    const counted = (res: ForwardResponse): ForwardResponse => {
      res.reroutes += tried.size;
      return res;
    };
    let upcalled = false;
    for (let attempt = 0; attempt <= LIMITS.maxRouteRetries; attempt++) {
      let decision = this.ctx.state.nextHop(key, skip);
      if (decision.kind === 'deliver') {
        // Delivering here because the true closest member is only suspected would misdeliver:
        // it is still in the leaf set, so it gets the message once; if it fails, it is skipped.
        const unsuspected = this.ctx.state.nextHop(key, tried);
        if (unsuspected.kind === 'leaf_set') decision = unsuspected;
      }
      let next = decision.kind === 'deliver' ? undefined : decision.node;
      if (!upcalled && app.forward) {
        upcalled = true;
        const verdict = await this.upcall(app, message, next);
        if (verdict.action === 'answer') {
          // Served on the way: for metrics and the hop span, this node delivered it.
          this.ctx.hooks.onHop?.('deliver', key, hops.length, sharedPrefixLength(key, this.ctx.self.id));
          return counted(this.answer(req, verdict.reply));
        }
        // The application's choice of next hop, for this attempt only: one that fails is
        // routed around like any other. Never back to this node or a suspect.
        if (next && verdict.next && verdict.next.id !== this.ctx.self.id && !skip.has(verdict.next.id)) next = verdict.next;
      }
      this.ctx.hooks.onHop?.(decision.kind, key, hops.length, decision.prefixLength);
      if (!next) return counted(await this.deliver(app, req, message));
      if (this.ctx.now() >= deadline - OVERLAY.hopMarginMs) return counted(this.refusal(req, new DeadlineExceededError('deadline exceeded while routing')));
      const sent = [...req.hops, toNodeInfo(next)];
      try {
        const res = await this.ctx.env.call(next, 'forward', { key: req.key, app: req.app, payload: message.payload, hops: sent }, { deadline: deadline - OVERLAY.hopMarginMs, context });
        // The next hop itself is not in a ring yet (a joiner): route around it, it is alive.
        if (res.errorCode === CODES.UNAVAILABLE && res.hops.length === sent.length) {
          skip.add(next.id);
          tried.add(next.id);
          continue;
        }
        this.ctx.stats.forwarded++;
        counted(res);
        if (res.errorCode === 0 && app.returned) {
          try {
            app.returned(message, res.payload);
          } catch {
            // An application's bookkeeping never changes the answer.
          }
        }
        return res;
      } catch (error) {
        if (isTransportFailure(error) && (!isTimeout(error) || !(await this.isAlive(next)))) {
          this.ctx.stats.retries++;
          this.detector.peerFailed(next, error);
          skip.add(next.id);
          tried.add(next.id);
          continue;
        }
        return counted(this.refusal(req, isTimeout(error) ? new DeadlineExceededError('a hop timed out') : error));
      }
    }
    return counted(this.refusal(req, new UnavailableError('no live route to the key')));
  }

  private async upcall(app: Application, message: RoutedMessage, next: NodeHandle | undefined) {
    try {
      return await app.forward!(message, next);
    } catch {
      // A failing upcall must not stop routing: the root still answers.
      return { action: 'continue' as const };
    }
  }

  private async deliver(app: Application, req: ForwardRequest, message: RoutedMessage): Promise<ForwardResponse> {
    this.ctx.stats.delivered++;
    try {
      return this.answer(req, await app.deliver(message));
    } catch (error) {
      return this.refusal(req, error);
    }
  }

  private answer(req: ForwardRequest, reply: Buffer): ForwardResponse {
    return { root: this.ctx.selfInfo, hops: req.hops, payload: reply, errorCode: CODES.OK, errorMessage: '', reroutes: 0 };
  }

  private refusal(req: ForwardRequest, error: unknown): ForwardResponse {
    const { code, message } = error instanceof PeerCallError ? { code: error.code, message: error.message } : codeOf(error);
    return { root: this.ctx.selfInfo, hops: req.hops, payload: Buffer.alloc(0), errorCode: code, errorMessage: message, reroutes: 0 };
  }

  /** A short ping tells a dead hop from a slow path further on. */
  private async isAlive(node: NodeHandle): Promise<boolean> {
    try {
      await this.ctx.env.call(node, 'ping', { sender: this.ctx.selfInfo }, { deadline: this.ctx.now() + Math.min(OVERLAY.aliveCheckMs, this.ctx.config.rpcTimeoutMs) });
      return true;
    } catch {
      return false;
    }
  }
}

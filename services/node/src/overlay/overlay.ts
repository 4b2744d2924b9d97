import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { nearestReplicaGuess, replicaSet } from '../core/replicas';
import type { RoutingState } from '../core/routing-state';
import { LIMITS, OVERLAY } from '../constants';
import { DeadlineExceededError, errorFromCode, InvalidArgumentError, UnavailableError } from '../errors';
import type {
  AnnounceRequest,
  DirectRequest,
  DirectResponse,
  ForwardRequest,
  ForwardResponse,
  JoinRequest,
  JoinResponse,
  LeafSetMessage,
  LeaveRequest,
  PingRequest,
  PingResponse,
  RoutingRow,
  RoutingRowRequest,
} from '../gen/pastry/v1/peer';
import type { Logger } from '../logger';
import { fromNodeInfo } from './codec';
import type { Application, Endpoint, RouteOptions, RouteResult } from './common-api';
import { OverlayContext, type OverlayConfig, type OverlayHooks, type OverlayStats } from './context';
import { PeerCallError, type OverlayEnv, type PeerCalls, type PeerMethod } from './env';
import { FailureDetector } from './failure-detector';
import { Join } from './join';
import { LeafSetMaintenance } from './leaf-set-maintenance';
import { Membership } from './membership';
import { PartitionHeal } from './partition-heal';
import { Router } from './router';
import { TableMaintenance } from './table-maintenance';

export type { OverlayConfig, OverlayHooks } from './context';

/**
 * One Pastry node's protocol: join, routing, leaf-set and routing-table maintenance,
 * failure detection and partition heal, over an OverlayEnv that supplies time, randomness,
 * timers and peer calls. Applications register and get an Endpoint (the common API).
 */
export class Overlay {
  private readonly ctx: OverlayContext;
  private readonly apps = new Map<string, Application>();
  readonly membership: Membership;
  readonly detector: FailureDetector;
  readonly leafSets: LeafSetMaintenance;
  readonly table: TableMaintenance;
  readonly joining: Join;
  readonly heal: PartitionHeal;
  readonly router: Router;
  private cancelTimers: (() => void)[] = [];
  private ticking: Promise<void> | undefined;
  private ticks = 0;
  private wakeStart: (() => void) | undefined;

  /** `state`: tables built elsewhere (the simulator's ring builds), used with startJoined(). */
  constructor(self: NodeHandle, env: OverlayEnv, config: OverlayConfig, log: Logger, hooks: OverlayHooks = {}, state?: RoutingState) {
    this.ctx = new OverlayContext(self, env, config, log, hooks, state);
    this.membership = new Membership(this.ctx, (node, joined) => this.notify(node, joined));
    this.detector = new FailureDetector(this.ctx, this.membership, (node, leafSetChanged) => void this.repair(node, leafSetChanged));
    this.leafSets = new LeafSetMaintenance(this.ctx, this.membership, this.detector);
    this.table = new TableMaintenance(this.ctx, this.membership, this.detector);
    this.joining = new Join(this.ctx, this.membership, this.detector, this.leafSets);
    this.heal = new PartitionHeal(this.ctx, this.membership, this.joining);
    this.router = new Router(this.ctx, this.detector, (id) => this.apps.get(id));
  }

  get self(): NodeHandle {
    return this.ctx.self;
  }

  get state(): RoutingState {
    return this.ctx.state;
  }

  get stats(): OverlayStats {
    return this.ctx.stats;
  }

  get ready(): boolean {
    return this.ctx.ready;
  }

  get env(): OverlayEnv {
    return this.ctx.env;
  }

  suspected(): ReadonlySet<Id> {
    return this.detector.suspected();
  }

  /** Registers an application; its id must be unique on this node. */
  register(app: Application): Endpoint {
    if (this.apps.has(app.id)) throw new Error(`application ${app.id} is already registered`);
    this.apps.set(app.id, app);
    const overlay = this;
    return {
      get self() {
        return overlay.self;
      },
      get ready() {
        return overlay.ready;
      },
      route: (key, payload, options) => this.route(app.id, key, payload, options),
      send: (node, payload, options) => this.send(app.id, node, payload, options),
      replicaSet: (key, k, exclude) => replicaSet(this.ctx.state, key, k, exclude),
      leafSet: () => this.ctx.state.leafSet.members(),
      leafSetCovers: (key) => this.ctx.state.leafSet.covers(key),
      proximity: (node) => this.ctx.rtt.srtt(node) ?? Number.POSITIVE_INFINITY,
      nearestReplica: (key, k, exclude) => nearestReplicaGuess(this.ctx.state, key, k, (n) => this.ctx.rtt.srtt(n.id) ?? Number.POSITIVE_INFINITY, exclude),
      now: () => this.ctx.env.now(),
      random: () => this.ctx.env.random(),
      setTimer: (ms, fn) => this.ctx.env.setTimer(ms, fn),
    };
  }

  route(app: string, key: Id, payload: Buffer, options: RouteOptions): Promise<RouteResult> {
    return this.router.route(app, key, payload, options);
  }

  /** A direct message to `app` on `node`. Errors are typed: refusals keep their code. */
  async send(app: string, node: NodeHandle, payload: Buffer, options: RouteOptions): Promise<Buffer> {
    try {
      const res = await this.ctx.env.call(node, 'direct', { sender: this.ctx.selfInfo, app, payload }, { deadline: options.deadline, context: options.context });
      return res.payload;
    } catch (error) {
      if (!(error instanceof PeerCallError)) throw error;
      if (error.failure === 'refused') throw errorFromCode(error.code, error.message);
      if (error.failure === 'timeout') throw new DeadlineExceededError(`${node.name || node.address} did not answer in time`);
      throw new UnavailableError(`${node.name || node.address} is unreachable`);
    }
  }

  /**
   * Joins through a seed, retrying with backoff, or as the founder creates the ring; then
   * runs maintenance. Resolves once joined, or when stop() comes first.
   */
  async start(): Promise<void> {
    if (!this.ctx.stopped) return;
    this.ctx.stopped = false;
    let backoff: number = LIMITS.joinBackoffInitialMs;
    while (!this.ctx.stopped && !(await this.joining.tryJoin())) {
      await new Promise<void>((resolve) => {
        const cancel = this.ctx.env.setTimer(backoff, () => resolve());
        this.wakeStart = () => {
          cancel();
          resolve();
        };
      });
      this.wakeStart = undefined;
      backoff = Math.min(backoff * 2, LIMITS.joinBackoffMaxMs);
    }
    if (this.ctx.stopped) return;
    this.maintain();
  }

  /** Runs as a member of a ring whose tables were given to the constructor, without joining. */
  startJoined(): void {
    if (!this.ctx.stopped) return;
    this.ctx.stopped = false;
    this.ctx.joined = true;
    this.maintain();
  }

  private maintain(): void {
    // The first rounds come fast and slow down to the interval: nodes that joined at the same
    // moment (a ring started in parallel) learn of each other in a few hundred milliseconds,
    // not a few intervals, and a settled ring pays nothing for it.
    this.every(this.ctx.config.maintenanceIntervalMs, () => this.tick(), OVERLAY.firstRoundMs);
    const healMs = this.ctx.config.partitionProbeIntervalMs ?? OVERLAY.partitionProbeIntervalMs;
    if (healMs > 0) this.every(healMs, () => this.heal.round());
  }

  stop(): void {
    this.ctx.stopped = true;
    for (const cancel of this.cancelTimers) cancel();
    this.cancelTimers = [];
    this.wakeStart?.();
  }

  /** One maintenance round: leaf-set exchange, and now and then a table-row refresh. Never overlaps itself. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      this.ticks++;
      await this.leafSets.round();
      if (this.ticks % OVERLAY.tableRefreshRounds === 0) await this.table.refresh();
      if (this.ticks % OVERLAY.tableCheckRounds === 0) await this.table.check();
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /**
   * Runs `task` every `ms`, the next run armed when the last one ended; with `firstMs`, the
   * first run comes after that and each gap doubles up to `ms`.
   */
  private every(ms: number, task: () => Promise<void>, firstMs = ms): void {
    let cancel: () => void = () => undefined;
    let gap = Math.min(firstMs, ms);
    const arm = (): void => {
      const wait = gap;
      gap = Math.min(ms, gap * 2);
      cancel = this.ctx.env.setTimer(wait, () => {
        void task()
          .catch((error: unknown) => this.ctx.log.warn('maintenance_failed', { error: String(error) }))
          .finally(() => {
            if (!this.ctx.stopped) arm();
          });
      });
    };
    arm();
    this.cancelTimers.push(() => cancel());
  }

  private async repair(dead: NodeHandle, leafSetChanged: boolean): Promise<void> {
    await Promise.all([this.table.repairSlot(dead), leafSetChanged ? this.leafSets.refill() : undefined]);
  }

  private notify(node: NodeHandle, joined: boolean): void {
    for (const app of this.apps.values()) {
      try {
        app.update?.(node, joined);
      } catch (error) {
        this.ctx.log.warn('update_upcall_failed', { app: app.id, error: String(error) });
      }
    }
  }

  /** Tells the leaf set this node is leaving. */
  async announceLeave(): Promise<void> {
    const deadline = this.ctx.deadline();
    await Promise.allSettled(this.ctx.state.leafSet.members().map((n) => this.ctx.env.call(n, 'leave', { sender: this.ctx.selfInfo }, { deadline })));
  }

  // ---- Peer requests: what any driver hands the protocol ----

  /** Dispatches one Peer request by method name (the test network's entry point). */
  handle<M extends PeerMethod>(method: M, request: PeerCalls[M][0], deadline: number, context?: unknown): Promise<PeerCalls[M][1]> | PeerCalls[M][1] {
    const handlers: { [K in PeerMethod]: (req: PeerCalls[K][0]) => Promise<PeerCalls[K][1]> | PeerCalls[K][1] } = {
      join: (r) => this.handleJoin(r, deadline),
      forward: (r) => this.handleForward(r, deadline, context),
      exchangeLeafSet: (r) => this.handleExchange(r),
      getRoutingRow: (r) => this.handleGetRoutingRow(r),
      announce: (r) => this.handleAnnounce(r),
      ping: (r) => this.handlePing(r),
      leave: (r) => this.handleLeave(r),
      direct: (r) => this.handleDirect(r, deadline),
    };
    return (handlers[method] as (req: PeerCalls[M][0]) => Promise<PeerCalls[M][1]> | PeerCalls[M][1])(request);
  }

  handleJoin(req: JoinRequest, deadline: number): Promise<JoinResponse> {
    return this.joining.handleJoin(req, deadline);
  }

  handleForward(req: ForwardRequest, deadline: number, context?: unknown): Promise<ForwardResponse> {
    return this.router.handleForward(req, deadline, context);
  }

  handleExchange(req: LeafSetMessage): LeafSetMessage {
    return this.leafSets.handleExchange(req);
  }

  handleGetRoutingRow(req: RoutingRowRequest): RoutingRow {
    return this.table.handleGetRoutingRow(req);
  }

  handleAnnounce(req: AnnounceRequest): LeafSetMessage {
    this.leafSets.acceptSender(fromNodeInfo(req.sender, 'sender'));
    return this.leafSets.message();
  }

  handlePing(req: PingRequest): PingResponse {
    if (req.sender) fromNodeInfo(req.sender, 'sender');
    return { responder: this.ctx.selfInfo, ready: this.ready };
  }

  /** A peer left gracefully: dropped at once, if it is the node we know at that address. */
  handleLeave(req: LeaveRequest): Record<string, never> {
    const sender = fromNodeInfo(req.sender, 'sender');
    const known = this.ctx.state.knownNodes().find((n) => n.id === sender.id);
    if (known && known.address === sender.address) {
      this.ctx.log.info('peer_left', { peer: sender.name || sender.id });
      if (this.membership.forget(sender, 'leave')) void this.leafSets.refill();
    }
    return {};
  }

  async handleDirect(req: DirectRequest, _deadline: number): Promise<DirectResponse> {
    const sender = fromNodeInfo(req.sender, 'sender');
    const app = this.apps.get(req.app);
    if (!app?.receive) throw new InvalidArgumentError(`no application ${JSON.stringify(req.app)} takes direct messages on this node`);
    return { payload: await app.receive(sender, req.payload) };
  }
}

import { performance } from 'node:perf_hooks';
import { Metadata } from '@grpc/grpc-js';
import { idToBytes, sharedPrefixLength, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { RoutingState, type HopReason } from '../core/routing-state';
import { adoptJoinState, joinContribution } from '../core/join';
import { RttEstimator } from '../core/rtt-estimator';
import { leafSetEdges, maintenanceTargets } from '../core/maintenance';
import { LIMITS } from '../constants';
import { DeadlineExceededError, InvalidArgumentError, UnavailableError } from '../errors';
import type { Logger } from '../logger';
import type { ForwardRequest, ForwardResponse, JoinRequest, JoinResponse, LeafSetMessage } from '../gen/pastry/v1/peer';
import { fromNodeInfo, fromNodeInfos, toNodeInfo } from '../rpc/codec';
import { errorFromStatus, isDeadline, isUnreachable, statusOf } from '../rpc/status';
import type { PeerPool } from '../rpc/peer-client';
import { status } from '@grpc/grpc-js';

export interface OverlayConfig {
  seeds: string[];
  founder: boolean;
  leafSetSize: number;
  neighborhoodSize: number;
  maintenanceIntervalMs: number;
  rpcTimeoutMs: number;
}

export interface Clock {
  now(): number;
}

/** The outcome of an operation at the node that serves it. */
export interface Delivery {
  found: boolean;
  value: Buffer;
  /** Replicas that confirmed a write. */
  acknowledged: number;
  version: number;
}

/** What the DHT does with a message once it reaches the key's root. */
export type Deliver = (request: ForwardRequest, deadline: number) => Promise<Delivery>;

/** Lets the DHT answer on the way, before the root: a read at a node holding a replica. */
export type Intercept = (request: ForwardRequest) => Promise<Delivery | undefined>;

/** Observers of routing, for metrics and traces. */
export interface OverlayHooks {
  onHop?(reason: HopReason, key: Id, hopIndex: number, prefixLength: number): void;
  onMembership?(event: 'join' | 'leave' | 'failure', node: NodeHandle): void;
  onMaintenanceMessage?(kind: string): void;
}

/** Floor of an adaptive timeout: scheduling noise on a busy host exceeds loopback RTTs. */
const MIN_PROBE_TIMEOUT_MS = 250;

/** Every this many maintenance rounds one routing-table row is refreshed. */
const TABLE_REFRESH_ROUNDS = 20;
/** Nodes of the same row asked for a replacement when a table entry dies. */
const TABLE_REPAIR_ASKS = 2;

/** A suspected peer is probed this many times, this far apart (growing), before it is declared dead. */
const SUSPECT_PROBES = 3;
const SUSPECT_PROBE_GAP_MS = 200;

/** Hop-by-hop deadline margin: an inner hop must time out before the outer call does. */
const HOP_MARGIN_MS = 100;

/**
 * The Pastry node at run time: the pure RoutingState driven by real peers, a clock and
 * timers. Joins the ring, routes messages recursively with retries, and keeps the leaf set
 * converged by periodic exchange.
 */
export class Overlay {
  readonly state: RoutingState;
  private joined = false;
  private stopped = false;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private joinTimer: NodeJS.Timeout | undefined;
  private readonly suspects = new Set<string>();
  private readonly rtt: RttEstimator;
  private rounds = 0;
  private deliver: Deliver = async () => ({ found: false, value: Buffer.alloc(0), acknowledged: 0, version: 0 });
  private intercept: Intercept = async () => undefined;
  readonly stats = { forwarded: 0, delivered: 0, retries: 0, maintenanceMessages: 0 };

  constructor(
    readonly self: NodeHandle,
    private readonly peers: PeerPool,
    private readonly config: OverlayConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly hooks: OverlayHooks = {},
  ) {
    this.state = new RoutingState(self, { leafSetSize: config.leafSetSize, neighborhoodSetSize: config.neighborhoodSize });
    this.rtt = new RttEstimator({ minTimeoutMs: Math.min(MIN_PROBE_TIMEOUT_MS, config.rpcTimeoutMs), maxTimeoutMs: config.rpcTimeoutMs });
  }

  get ready(): boolean {
    return this.joined && !this.stopped;
  }

  setDeliver(deliver: Deliver, intercept?: Intercept): void {
    this.deliver = deliver;
    if (intercept) this.intercept = intercept;
  }

  /** Joins through a seed (retrying with backoff) or, as the founder, creates the ring. */
  start(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve) => {
      let backoff: number = LIMITS.joinBackoffInitialMs;
      const attempt = async (): Promise<void> => {
        if (this.stopped) return resolve();
        if (await this.tryJoin()) {
          this.startMaintenance();
          return resolve();
        }
        backoff = Math.min(backoff * 2, LIMITS.joinBackoffMaxMs);
        this.joinTimer = setTimeout(() => void attempt(), backoff);
      };
      void attempt();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.maintenanceTimer = undefined;
    this.joinTimer = undefined;
  }

  private otherSeeds(): string[] {
    return this.config.seeds.filter((s) => s !== this.self.address);
  }

  private async tryJoin(): Promise<boolean> {
    const seeds = this.otherSeeds();
    for (const seed of seeds) {
      try {
        const ping = await this.peers.call(seed, 'ping', { sender: toNodeInfo(this.self) }, { deadline: this.deadline() });
        if (!ping.ready) continue;
        await this.joinVia(seed);
        return true;
      } catch (error) {
        this.log.debug('join_attempt_failed', { seed, error: String(error) });
      }
    }
    // Only the founder creates a ring, and only when no seed is in one: a StatefulSet
    // started in parallel forms one ring, never several.
    if (this.config.founder) {
      this.joined = true;
      this.log.info('ring_created', { seeds });
      return true;
    }
    return false;
  }

  private async joinVia(seed: string): Promise<void> {
    const res = await this.peers.call(seed, 'join', { joiner: toNodeInfo(this.self), path: [] }, { deadline: this.deadline(4) });
    const rows = res.rows.map((r) => ({ nodes: fromNodeInfos(r.entries, 'rows') }));
    const leafSet = fromNodeInfos(res.leafSet, 'leafSet');
    const neighborhood = fromNodeInfos(res.neighborhoodSet, 'neighborhoodSet');
    const learned = adoptJoinState(this.state, { rows, leafSet }, neighborhood, this.clock.now());
    await this.announce(learned);
    this.joined = true;
    this.log.info('joined', { seed, root: res.root ? fromNodeInfo(res.root).name : '', learned: learned.length });
  }

  /** Tells the nodes the joiner learned of that it exists; learns their leaf sets in return. */
  private async announce(nodes: NodeHandle[]): Promise<void> {
    const targets = nodes.slice(0, LIMITS.maxAnnounceFanout);
    await Promise.all(
      targets.map(async (n) => {
        const t0 = performance.now();
        try {
          const res = await this.peers.call(n.address, 'announce', { sender: toNodeInfo(this.self) }, { deadline: this.deadline() });
          this.takeLeafSetMessage(res, performance.now() - t0);
        } catch (error) {
          this.peerFailed(n, error);
        }
      }),
    );
  }

  private startMaintenance(): void {
    if (this.maintenanceTimer) return;
    this.maintenanceTimer = setInterval(() => void this.maintain(), this.config.maintenanceIntervalMs);
    this.maintenanceTimer.unref();
  }

  /**
   * One round: exchange leaf sets with the nearest member on each side and, in turn, a few
   * others (core/maintenance.ts), each under a timeout adapted to its measured RTT; a member
   * that misses it becomes a suspect. Every few rounds, refresh one routing-table row.
   */
  async maintain(): Promise<void> {
    if (!this.ready) return;
    this.rounds++;
    const targets = maintenanceTargets(this.state.leafSet, this.rounds).slice(0, LIMITS.maintenanceFanout);
    await Promise.all(targets.map((n) => this.exchangeWith(n)));
    if (this.rounds % TABLE_REFRESH_ROUNDS === 0) await this.refreshTableRow();
  }

  private async exchangeWith(n: NodeHandle): Promise<void> {
    const message: LeafSetMessage = { sender: toNodeInfo(this.self), leafSet: this.leafSetInfos() };
    const t0 = performance.now();
    this.countMaintenance('exchange_leaf_set');
    try {
      const res = await this.peers.call(n.address, 'exchangeLeafSet', message, { deadline: this.clock.now() + this.rtt.timeoutMs(n.id) });
      this.takeLeafSetMessage(res, performance.now() - t0);
    } catch (error) {
      this.peerFailed(n, error);
    }
  }

  /** A member left the leaf set: the farthest members know who takes its place. */
  private async refillLeafSet(): Promise<void> {
    if (this.stopped || !this.ready) return;
    await Promise.all(leafSetEdges(this.state.leafSet).map((n) => this.exchangeWith(n)));
  }

  /** Asks a random entry of a random filled row for that row: the table tracks the ring. */
  private async refreshTableRow(): Promise<void> {
    const entries = this.state.table.entries();
    if (entries.length === 0) return;
    const pick = entries[Math.floor(Math.random() * entries.length)]!;
    await this.fetchRow(pick.entry.node, pick.row);
  }

  /** Learns the nodes of row `row` of a peer's table (lazy repair and refresh). */
  private async fetchRow(peer: NodeHandle, row: number): Promise<void> {
    this.countMaintenance('get_routing_row');
    const t0 = performance.now();
    try {
      const res = await this.peers.call(peer.address, 'getRoutingRow', { sender: toNodeInfo(this.self), index: row }, { deadline: this.deadline() });
      this.learnDirect(peer, performance.now() - t0);
      const now = this.clock.now();
      for (const n of fromNodeInfos(res.entries, 'entries')) this.state.learn(n, now);
    } catch (error) {
      this.peerFailed(peer, error);
    }
  }

  /** A routing-table slot lost its node: ask other nodes of the same row for a replacement. */
  private async repairSlot(dead: NodeHandle): Promise<void> {
    const row = sharedPrefixLength(this.self.id, dead.id);
    const others = this.state.table.row(row).filter((e) => e.node.id !== dead.id).slice(0, TABLE_REPAIR_ASKS);
    await Promise.all(others.map((e) => this.fetchRow(e.node, row)));
  }

  private countMaintenance(kind: string): void {
    this.stats.maintenanceMessages++;
    this.hooks.onMaintenanceMessage?.(kind);
  }

  leafSetInfos() {
    return [toNodeInfo(this.self), ...this.state.leafSet.members().map(toNodeInfo)];
  }

  /** A peer's leaf-set message: the sender is alive; its members are candidates. */
  takeLeafSetMessage(message: LeafSetMessage, rttMs?: number): void {
    const sender = fromNodeInfo(message.sender, 'sender');
    const members = fromNodeInfos(message.leafSet, 'leafSet');
    const now = this.clock.now();
    this.learnDirect(sender, rttMs);
    for (const m of members) if (m.id !== sender.id) this.state.learn(m, now);
  }

  learnDirect(node: NodeHandle, rttMs?: number): void {
    if (rttMs !== undefined) this.rtt.observe(node.id, rttMs);
    const isNew = !this.state.knows(node.id);
    this.state.learn(node, this.clock.now(), { direct: true, proximity: rttMs });
    if (isNew && this.state.knows(node.id)) this.hooks.onMembership?.('join', node);
  }

  /**
   * A call to a peer failed: the peer becomes a suspect. Routing goes around it at once, but
   * it stays in the leaf set (and so in replica sets) until probes with the full timeout
   * confirm it dead; if it answers (a slow or briefly unreachable node), it is cleared.
   */
  peerFailed(node: NodeHandle, error: unknown): void {
    if (!isUnreachable(error) && !isDeadline(error)) return;
    if (this.suspects.has(node.id)) return;
    if (!this.state.knows(node.id)) {
      this.state.forget(node.id, this.clock.now());
      return;
    }
    this.suspects.add(node.id);
    void this.confirmFailure(node, (error as { code?: number }).code).finally(() => this.suspects.delete(node.id));
  }

  /** Peers routed around while a failure is confirmed. */
  suspected(): ReadonlySet<string> {
    return this.suspects;
  }

  private async confirmFailure(node: NodeHandle, code: number | undefined): Promise<void> {
    for (let attempt = 0; attempt < SUSPECT_PROBES && !this.stopped; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, SUSPECT_PROBE_GAP_MS * attempt).unref());
      this.countMaintenance('probe');
      const t0 = performance.now();
      try {
        const res = await this.peers.call(node.address, 'ping', { sender: toNodeInfo(this.self) }, { deadline: this.deadline() });
        const responder = fromNodeInfo(res.responder, 'responder');
        if (responder.id === node.id && res.ready) {
          this.learnDirect(responder, performance.now() - t0);
          this.log.info('suspect_cleared', { peer: node.name || node.id });
          return;
        }
      } catch {
        // Still silent: try again, then confirm.
      }
    }
    if (this.stopped) return;
    const leafSetChanged = this.state.forget(node.id, this.clock.now());
    this.rtt.forget(node.id);
    this.peers.drop(node.address);
    this.hooks.onMembership?.('failure', node);
    this.log.warn('peer_failed', { peer: node.name || node.id, address: node.address, code });
    await Promise.all([this.repairSlot(node), leafSetChanged ? this.refillLeafSet() : undefined]);
  }

  private deadline(multiplier = 1): number {
    return this.clock.now() + this.config.rpcTimeoutMs * multiplier;
  }

  // ---- Peer requests ----

  /** Routes a join towards the joiner's id; each hop adds its rows, the root its leaf set. */
  async handleJoin(req: JoinRequest, deadline: number): Promise<JoinResponse> {
    if (!this.ready) throw new UnavailableError('this node is not in a ring yet');
    const joiner = fromNodeInfo(req.joiner, 'joiner');
    if (req.path.length > LIMITS.maxHops) throw new InvalidArgumentError('join path too long');
    const path = [...req.path, toNodeInfo(this.self)];
    for (let attempt = 0; attempt <= LIMITS.maxRouteRetries; attempt++) {
      const decision = this.state.nextHop(joiner.id, new Set([...this.suspects, joiner.id]));
      if (decision.kind === 'deliver') {
        const c = joinContribution(this.state, joiner.id, true);
        return this.joinResponse(c, req.path.length === 0, path);
      }
      try {
        const res = await this.peers.call(decision.node.address, 'join', { joiner: req.joiner, path }, { deadline: deadline - HOP_MARGIN_MS });
        const mine = joinContribution(this.state, joiner.id, false);
        res.rows.unshift(...mine.rows.map((r) => ({ index: r.index, entries: r.nodes.map(toNodeInfo) })));
        if (req.path.length === 0) res.neighborhoodSet = this.state.neighborhood.nodes().map(toNodeInfo);
        return res;
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        this.peerFailed(decision.node, error);
      }
    }
    throw new UnavailableError('no live route towards the joiner');
  }

  private joinResponse(c: ReturnType<typeof joinContribution>, isEntry: boolean, path: JoinResponse['path']): JoinResponse {
    return {
      rows: c.rows.map((r) => ({ index: r.index, entries: r.nodes.map(toNodeInfo) })),
      leafSet: c.leafSet.map(toNodeInfo),
      root: toNodeInfo(this.self),
      neighborhoodSet: isEntry ? this.state.neighborhood.nodes().map(toNodeInfo) : [],
      path,
    };
  }

  /**
   * Recursive routing: deliver here when this node's leaf set says it is the root, else
   * forward to the next hop; a hop that is unreachable is removed and the next best
   * candidate tried, so the caller sees a retry, never a silent loss.
   */
  async route(req: ForwardRequest, deadline: number, metadata?: Metadata): Promise<ForwardResponse> {
    if (!this.ready) throw new UnavailableError('this node is not in a ring yet');
    if (req.hops.length > LIMITS.maxHops) throw new UnavailableError('hop limit exceeded');
    const key = req.key.toString('hex');
    const early = await this.intercept(req).catch(() => undefined);
    if (early) {
      // Served from a replica on the way: for metrics and the hop span, this node delivered it.
      this.hooks.onHop?.('deliver', key, req.hops.length, sharedPrefixLength(key, this.self.id));
      return this.response(req, early);
    }
    for (let attempt = 0; attempt <= LIMITS.maxRouteRetries; attempt++) {
      const decision = this.state.nextHop(key, this.suspects);
      this.hooks.onHop?.(decision.kind, key, req.hops.length, decision.prefixLength);
      if (decision.kind === 'deliver') return this.deliverHere(req, deadline);
      if (this.clock.now() >= deadline - HOP_MARGIN_MS) throw new DeadlineExceededError('deadline exceeded while routing');
      const next = decision.node;
      const t0 = performance.now();
      try {
        const res = await this.peers.call(
          next.address,
          'forward',
          { ...req, hops: [...req.hops, toNodeInfo(next)] },
          { deadline: deadline - HOP_MARGIN_MS, metadata },
        );
        this.stats.forwarded++;
        if (req.hops.length === 0) this.state.learn(next, this.clock.now(), { direct: true, proximity: performance.now() - t0 });
        return res;
      } catch (error) {
        if (isUnreachable(error)) {
          this.stats.retries++;
          this.peerFailed(next, error);
          continue;
        }
        if (isDeadline(error) && !(await this.isAlive(next))) {
          this.stats.retries++;
          this.peerFailed(next, error);
          continue;
        }
        throw error;
      }
    }
    throw new UnavailableError('no live route to the key');
  }

  private async deliverHere(req: ForwardRequest, deadline: number): Promise<ForwardResponse> {
    this.stats.delivered++;
    try {
      return this.response(req, await this.deliver(req, deadline));
    } catch (error) {
      const s = statusOf(error);
      return { ...this.response(req, { found: false, value: Buffer.alloc(0), acknowledged: 0, version: 0 }), errorCode: s.code, errorMessage: s.message };
    }
  }

  private response(req: ForwardRequest, d: Delivery): ForwardResponse {
    return { root: toNodeInfo(this.self), hops: req.hops, ...d, errorCode: 0, errorMessage: '' };
  }

  /** A short ping tells a dead hop from a slow path further on. */
  private async isAlive(node: NodeHandle): Promise<boolean> {
    try {
      await this.peers.call(node.address, 'ping', { sender: toNodeInfo(this.self) }, { deadline: this.clock.now() + Math.min(500, this.config.rpcTimeoutMs) });
      return true;
    } catch {
      return false;
    }
  }

  /** A peer left gracefully: drop it at once rather than wait to find it dead. */
  peerLeft(node: NodeHandle): void {
    if (this.state.knows(node.id)) this.hooks.onMembership?.('leave', node);
    const leafSetChanged = this.state.forget(node.id, this.clock.now());
    this.peers.drop(node.address);
    this.log.info('peer_left', { peer: node.name || node.id });
    if (leafSetChanged) void this.refillLeafSet();
  }

  /** Tells the leaf set this node is leaving. */
  async announceLeave(): Promise<void> {
    const deadline = this.deadline();
    await Promise.allSettled(this.state.leafSet.members().map((n) => this.peers.call(n.address, 'leave', { sender: toNodeInfo(this.self) }, { deadline })));
  }

  /** Answers an exchange: learn the sender and its leaf set, reply with ours. */
  handleExchange(req: LeafSetMessage): LeafSetMessage {
    this.takeLeafSetMessage(req);
    return { sender: toNodeInfo(this.self), leafSet: this.leafSetInfos() };
  }

  handleAnnounce(sender: NodeHandle): LeafSetMessage {
    this.learnDirect(sender);
    return { sender: toNodeInfo(this.self), leafSet: this.leafSetInfos() };
  }
}

/** Turns a ForwardResponse carrying an error back into the typed error. */
export function throwIfError(res: ForwardResponse): ForwardResponse {
  if (res.errorCode !== status.OK) throw errorFromStatus(res.errorCode, res.errorMessage);
  return res;
}

export function keyBytes(id: Id): Buffer {
  return idToBytes(id);
}

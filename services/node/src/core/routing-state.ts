import { DIGITS, RING_SIZE, compareCloseness, digit, sharedPrefixLength, type Id } from './id';
import { LeafSet } from './leaf-set';
import { NeighborhoodSet } from './neighborhood-set';
import { UNKNOWN_PROXIMITY, type NodeHandle } from './node-handle';
import { RoutingTable } from './routing-table';

export interface RoutingStateConfig {
  /** |L|, split evenly between both sides. */
  leafSetSize: number;
  /** |M|. */
  neighborhoodSetSize: number;
  /** How long (ms) a node removed as dead is ignored when others mention it. */
  deadNodeMemoryMs: number;
}

export const DEFAULT_ROUTING_CONFIG: RoutingStateConfig = {
  leafSetSize: 16,
  neighborhoodSetSize: 16,
  deadNodeMemoryMs: 60_000,
};

/** Why a next hop was chosen; traces and metrics report it. */
export type HopReason = 'deliver' | 'leaf_set' | 'routing_table' | 'rare_case';

export type RouteDecision =
  | { kind: 'deliver'; prefixLength: number }
  | { kind: Exclude<HopReason, 'deliver'>; node: NodeHandle; prefixLength: number };

export interface LearnOptions {
  /** Measured RTT in ms, when this contact measured one. */
  proximity?: number;
  /** The node itself contacted us: it is alive, whatever we believed. */
  direct?: boolean;
  /**
   * False for hearsay that must not take a leaf-set place before the node is heard from
   * (the caller probes it first); it still enters the routing table. Default true.
   */
  leafSet?: boolean;
}

/**
 * One node's Pastry state — leaf set, routing table, neighbourhood set — and the routing
 * decision. Pure: time comes in as arguments, and nothing here sends messages.
 */
export class RoutingState {
  readonly config: RoutingStateConfig;
  readonly leafSet: LeafSet;
  readonly table: RoutingTable;
  readonly neighborhood: NeighborhoodSet;
  private readonly deadUntil = new Map<Id, number>();

  constructor(
    readonly self: NodeHandle,
    config: Partial<RoutingStateConfig> = {},
  ) {
    this.config = { ...DEFAULT_ROUTING_CONFIG, ...config };
    this.leafSet = new LeafSet(self, this.config.leafSetSize);
    this.table = new RoutingTable(self.id);
    this.neighborhood = new NeighborhoodSet(self.id, this.config.neighborhoodSetSize);
  }

  /**
   * Takes a node into the state where it fits. A node recently removed as dead is ignored
   * unless it contacted us itself. Returns whether the leaf set changed.
   */
  learn(node: NodeHandle, now: number, options: LearnOptions = {}): boolean {
    if (node.id === this.self.id) return false;
    const until = this.deadUntil.get(node.id);
    if (until !== undefined) {
      if (!options.direct && now < until) return false;
      this.deadUntil.delete(node.id);
    }
    const proximity = options.proximity ?? UNKNOWN_PROXIMITY;
    this.table.consider(node, proximity);
    if (Number.isFinite(proximity)) this.neighborhood.consider(node, proximity);
    if (options.leafSet === false) return false;
    return this.leafSet.insert(node);
  }

  /** Removes a node believed dead (or gone) from every table. Returns whether the leaf set changed. */
  forget(id: Id, now: number): boolean {
    if (id === this.self.id) return false;
    this.deadUntil.set(id, now + this.config.deadNodeMemoryMs);
    this.pruneDeadMemory(now);
    this.table.remove(id);
    this.neighborhood.remove(id);
    return this.leafSet.remove(id);
  }

  /** Whether the node is in any table. */
  knows(id: Id): boolean {
    return this.leafSet.has(id) || this.table.has(id) || this.neighborhood.has(id);
  }

  isRecentlyDead(id: Id, now: number): boolean {
    const until = this.deadUntil.get(id);
    return until !== undefined && now < until;
  }

  /**
   * Pastry's routing step. Inside the leaf-set range: the numerically closest member, or
   * deliver when that is this node. Else the routing-table entry sharing one more digit with
   * the key. Else (rare) any known node sharing as long a prefix and numerically closer.
   * `exclude` skips ids: a joining node must not be routed to its own stale entry, and a
   * suspected peer is routed around until it is confirmed dead or alive.
   */
  nextHop(key: Id, exclude?: Id | ReadonlySet<Id>): RouteDecision {
    const skip = excluder(exclude);
    const prefixLength = sharedPrefixLength(key, this.self.id);
    if (this.leafSet.covers(key)) {
      const closest = this.leafSet.closest(key, skip);
      if (closest.id === this.self.id) return { kind: 'deliver', prefixLength };
      return { kind: 'leaf_set', node: closest, prefixLength };
    }
    if (prefixLength < DIGITS) {
      const entry = this.table.get(prefixLength, digit(key, prefixLength));
      if (entry && !skip(entry.node.id)) return { kind: 'routing_table', node: entry.node, prefixLength };
    }
    let best: NodeHandle | undefined;
    for (const candidate of this.knownNodes()) {
      if (skip(candidate.id)) continue;
      if (sharedPrefixLength(candidate.id, key) < prefixLength) continue;
      const reference = best ?? this.self;
      if (compareCloseness(key, candidate.id, reference.id) < 0) best = candidate;
    }
    if (best) return { kind: 'rare_case', node: best, prefixLength };
    return { kind: 'deliver', prefixLength };
  }

  /** Whether this node is the key's root by its own leaf set. */
  isRoot(key: Id): boolean {
    return this.leafSet.covers(key) && this.leafSet.closest(key).id === this.self.id;
  }

  /** Every distinct node in any table. */
  knownNodes(): NodeHandle[] {
    const seen = new Map<Id, NodeHandle>();
    for (const n of this.leafSet.members()) seen.set(n.id, n);
    for (const { entry } of this.table.entries()) if (!seen.has(entry.node.id)) seen.set(entry.node.id, entry.node);
    for (const n of this.neighborhood.nodes()) if (!seen.has(n.id)) seen.set(n.id, n);
    return [...seen.values()];
  }

  /** Estimated member count from leaf-set density: |L| members span `span` of the ring. */
  estimateRingSize(): number {
    const members = this.leafSet.members().length;
    const span = this.leafSet.span();
    if (span === null || span === 0n) return members + 1;
    return Math.round((members * Number(RING_SIZE)) / Number(span)) + 1;
  }

  private pruneDeadMemory(now: number): void {
    if (this.deadUntil.size < 1024) return;
    for (const [id, until] of this.deadUntil) if (until <= now) this.deadUntil.delete(id);
  }
}

const NOTHING = (): boolean => false;

function excluder(exclude: Id | ReadonlySet<Id> | undefined): (id: Id) => boolean {
  if (exclude === undefined) return NOTHING;
  if (typeof exclude === 'string') return (id) => id === exclude;
  return exclude.size === 0 ? NOTHING : (id) => exclude.has(id);
}

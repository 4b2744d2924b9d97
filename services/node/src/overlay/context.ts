import type { NodeHandle } from '../core/node-handle';
import type { HopReason } from '../core/routing-state';
import { RoutingState } from '../core/routing-state';
import { RttEstimator } from '../core/rtt-estimator';
import type { Logger } from '../logger';
import type { NodeInfo } from '../gen/pastry/v1/common';
import { toNodeInfo } from './codec';
import type { OverlayEnv } from './env';
import { OVERLAY } from '../constants';

export interface OverlayConfig {
  seeds: string[];
  founder: boolean;
  leafSetSize: number;
  neighborhoodSize: number;
  maintenanceIntervalMs: number;
  rpcTimeoutMs: number;
  /** Period of partition-heal probes of seeds and recently dead nodes; 0 turns them off. */
  partitionProbeIntervalMs?: number;
}

/** Observers of routing, for metrics and traces. */
export interface OverlayHooks {
  onHop?(reason: HopReason, key: string, hopIndex: number, prefixLength: number): void;
  onMembership?(event: 'join' | 'leave' | 'failure', node: NodeHandle): void;
  onMaintenanceMessage?(kind: string): void;
}

export interface OverlayStats {
  forwarded: number;
  delivered: number;
  retries: number;
  maintenanceMessages: number;
}

/**
 * What every protocol part of one node shares: its state, its environment, its config.
 * Protocol parts talk to each other through the Overlay that owns them, never through I/O.
 */
export class OverlayContext {
  readonly state: RoutingState;
  readonly rtt: RttEstimator;
  readonly stats: OverlayStats = { forwarded: 0, delivered: 0, retries: 0, maintenanceMessages: 0 };
  joined = false;
  stopped = true;
  readonly selfInfo: NodeInfo;

  constructor(
    readonly self: NodeHandle,
    readonly env: OverlayEnv,
    readonly config: OverlayConfig,
    readonly log: Logger,
    readonly hooks: OverlayHooks,
    state?: RoutingState,
  ) {
    this.state = state ?? new RoutingState(self, { leafSetSize: config.leafSetSize, neighborhoodSetSize: config.neighborhoodSize });
    this.rtt = new RttEstimator({ minTimeoutMs: Math.min(OVERLAY.minProbeTimeoutMs, config.rpcTimeoutMs), maxTimeoutMs: config.rpcTimeoutMs });
    this.selfInfo = toNodeInfo(self);
  }

  get ready(): boolean {
    return this.joined && !this.stopped;
  }

  now(): number {
    return this.env.now();
  }

  deadline(multiplier = 1): number {
    return this.env.now() + this.config.rpcTimeoutMs * multiplier;
  }

  count(kind: string): void {
    this.stats.maintenanceMessages++;
    this.hooks.onMaintenanceMessage?.(kind);
  }
}

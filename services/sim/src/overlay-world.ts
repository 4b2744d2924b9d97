import type { Id } from '../../node/src/core';
import type { Logger } from '../../node/src/logger';
import { Overlay } from '../../node/src/overlay/overlay';
import { DeterministicNetwork } from '../../node/src/transport/deterministic-network';
import type { World } from './world';

const QUIET: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const EMPTY = Buffer.alloc(0);
const LOOKUP_APP = 'lookup';
const LOOKUP_DEADLINE_MS = 60_000;

/** Overlay settings the simulated nodes run with: the node's own defaults unless the scenario says otherwise. */
export interface OverlaySettings {
  maintenanceIntervalMs: number;
  rpcTimeoutMs: number;
}

export interface OverlayLookup {
  key: Id;
  source: number;
  /** Index of the node that answered, or -1 when the route failed. */
  destination: number;
  hops: number;
  correct: boolean;
}

/**
 * The simulated ring run by the node's own protocol: one Overlay per node of the World,
 * starting from the tables the World's build made, talking over a DeterministicNetwork whose
 * delays are the World's network model. Maintenance, failure detection and repair are the
 * code the pods run; the World only holds the truth (who is alive) to check against.
 */
export class OverlayWorld {
  readonly net: DeterministicNetwork;
  readonly overlays: Overlay[];
  /** Maintenance messages sent, by kind, over all nodes. */
  readonly messages = new Map<string, number>();

  constructor(
    readonly world: World,
    seed: number,
    settings: OverlaySettings,
  ) {
    this.net = new DeterministicNetwork(seed, {
      encode: false,
      lossRate: world.config.lossRate,
      delayMs: (from, to) => world.model.delay(parseInt(from, 10), parseInt(to, 10)),
    });
    const count = (kind: string): void => void this.messages.set(kind, (this.messages.get(kind) ?? 0) + 1);
    this.overlays = world.handles.map((handle, i) => {
      const config = {
        seeds: [],
        founder: false,
        leafSetSize: world.config.leafSetSize,
        neighborhoodSize: world.config.neighborhoodSetSize,
        maintenanceIntervalMs: settings.maintenanceIntervalMs,
        rpcTimeoutMs: settings.rpcTimeoutMs,
        // Nothing is partitioned here; probing the dead for a lost half would only add traffic.
        partitionProbeIntervalMs: 0,
      };
      const overlay = new Overlay(handle, this.net.env(handle.address), config, QUIET, { onMaintenanceMessage: count }, world.states[i]);
      overlay.register({ id: LOOKUP_APP, deliver: async () => EMPTY });
      this.net.attach(handle.address, (method, request, deadline) => overlay.handle(method, request, deadline));
      return overlay;
    });
  }

  start(): void {
    for (const o of this.overlays) o.startJoined();
  }

  stop(): void {
    for (const o of this.overlays) o.stop();
  }

  /** The node crashes: its process is gone, calls to it are refused, and nobody is told. */
  fail(node: number): void {
    this.world.fail(node);
    this.overlays[node]!.stop();
    this.net.crash(this.world.handles[node]!.address);
  }

  total(kinds: readonly string[]): number {
    return kinds.reduce((sum, k) => sum + (this.messages.get(k) ?? 0), 0);
  }

  /** Hops routed around a node that did not answer, over all nodes. */
  retries(): number {
    return this.overlays.reduce((sum, o) => sum + o.stats.retries, 0);
  }

  /**
   * Routes the lookups through the nodes' routers, `concurrency` in flight at any time, and
   * hands each result to `observe`.
   */
  async lookups(requests: readonly { source: number; key: Id }[], concurrency: number, observe: (r: OverlayLookup) => void): Promise<void> {
    let next = 0;
    const one = async ({ source, key }: { source: number; key: Id }): Promise<void> => {
      try {
        const r = await this.overlays[source]!.route(LOOKUP_APP, key, EMPTY, { deadline: this.net.now + LOOKUP_DEADLINE_MS });
        const destination = parseInt(r.root.address, 10);
        observe({ key, source, destination, hops: r.hops.length, correct: destination === this.world.liveRing().root(key) });
      } catch {
        observe({ key, source, destination: -1, hops: 0, correct: false });
      }
    };
    const worker = async (): Promise<void> => {
      while (next < requests.length) await one(requests[next++]!);
    };
    const all = Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
    // Each worker's lookups end by their deadline: this bound is never the one that holds.
    const limit = (Math.ceil(requests.length / Math.max(1, concurrency)) + 1) * LOOKUP_DEADLINE_MS;
    const outcome = await this.net.settle(all, limit);
    if (!outcome.ok) throw new Error(`lookups did not finish: ${String(outcome.error)}`);
  }

  /** Runs virtual time in steps of `stepMs` until `done()` holds or `limitMs` pass; returns the time taken, or -1. */
  async runUntil(done: () => boolean, stepMs: number, limitMs: number): Promise<number> {
    const start = this.net.now;
    while (!done()) {
      if (this.net.now - start >= limitMs) return -1;
      await this.net.runFor(stepMs);
    }
    return this.net.now - start;
  }
}

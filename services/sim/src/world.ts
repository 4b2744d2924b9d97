import { RoutingState, type NodeHandle } from '../../node/src/core';
import { EventQueue } from './event-queue';
import { LiveRing } from './live-ring';
import { roundTrip, type NetworkModel } from './network/model';
import type { Rng } from './rng';

export interface WorldConfig {
  /** Pastry's |L|. */
  leafSetSize: number;
  /** Pastry's |M|. */
  neighborhoodSetSize: number;
  /** How long (virtual ms) a node ignores hearsay about a node it found dead. */
  deadNodeMemoryMs: number;
  /** Probability that any one message is lost. */
  lossRate: number;
  /** How long (virtual ms) a sender waits for an answer before it retries or gives up. */
  timeoutMs: number;
  /** Retransmissions after a timeout before the peer is declared dead. */
  retries: number;
}

/** The Pastry paper's parameters (b = 4 is fixed by the core). */
export const PAPER_CONFIG: WorldConfig = {
  leafSetSize: 16,
  neighborhoodSetSize: 32,
  deadNodeMemoryMs: 60_000,
  lossRate: 0,
  timeoutMs: 3_000,
  retries: 1,
};

/**
 * The simulated population: one RoutingState per node, the network model, the liveness of
 * every node, virtual time and a counting, lossy message transport. Node i's handle carries
 * address `i:7000`, so a routing decision names the node to send to.
 */
export class World {
  readonly queue = new EventQueue();
  readonly handles: NodeHandle[];
  readonly states: RoutingState[];
  readonly alive: Uint8Array;
  /** Messages sent, by kind. */
  readonly messages = new Map<string, number>();
  private ring: LiveRing | undefined;

  constructor(
    readonly model: NetworkModel,
    readonly config: WorldConfig,
    readonly rng: Rng,
    ids: readonly string[],
  ) {
    if (ids.length !== model.size) throw new RangeError(`${ids.length} ids for a ${model.size}-node network`);
    this.handles = ids.map((id, i) => ({ id, address: `${i}:7000`, name: `sim-${i}` }));
    const stateConfig = {
      leafSetSize: config.leafSetSize,
      neighborhoodSetSize: config.neighborhoodSetSize,
      deadNodeMemoryMs: config.deadNodeMemoryMs,
    };
    this.states = this.handles.map((h) => new RoutingState(h, stateConfig));
    this.alive = new Uint8Array(ids.length).fill(1);
  }

  get size(): number {
    return this.handles.length;
  }

  get now(): number {
    return this.queue.now;
  }

  indexOf(node: NodeHandle): number {
    return parseInt(node.address, 10);
  }

  isAlive(node: number): boolean {
    return this.alive[node] === 1;
  }

  /** Fails a node silently: it stops answering, and nobody is told. */
  fail(node: number): void {
    this.alive[node] = 0;
    this.ring = undefined;
  }

  /** The true live membership (rebuilt after failures). */
  liveRing(): LiveRing {
    return (this.ring ??= new LiveRing(this.size, (i) => this.handles[i]!.id, (i) => this.isAlive(i)));
  }

  rtt(a: number, b: number): number {
    return roundTrip(this.model, a, b);
  }

  count(kind: string, n = 1): void {
    this.messages.set(kind, (this.messages.get(kind) ?? 0) + n);
  }

  /** Total messages of the given kinds (all kinds when none are named). */
  total(kinds?: readonly string[]): number {
    let sum = 0;
    for (const [kind, n] of this.messages) if (!kinds || kinds.includes(kind)) sum += n;
    return sum;
  }

  /**
   * One-way message: `onArrive` runs at the receiver after the network delay, unless the
   * receiver is dead or the message is lost, in which case `onLost` runs at the sender when
   * its timeout expires (the sender learns of the loss only by the missing acknowledgement).
   */
  send(from: number, to: number, kind: string, onArrive: () => void, onLost: () => void): void {
    this.count(kind);
    if (!this.isAlive(to) || this.rng.chance(this.config.lossRate)) {
      this.queue.schedule(this.config.timeoutMs, onLost);
      return;
    }
    this.queue.schedule(this.model.delay(from, to), onArrive);
  }

  /**
   * A one-way message with per-hop acknowledgement: a loss is retransmitted up to
   * `config.retries` times; `onDead` runs when every attempt timed out (presumed dead).
   */
  forward(from: number, to: number, kind: string, onArrive: () => void, onDead: () => void): void {
    const attempt = (left: number): void =>
      this.send(from, to, kind, onArrive, () => (left > 0 ? attempt(left - 1) : onDead()));
    attempt(this.config.retries);
  }

  /**
   * Request and reply, retransmitted up to `config.retries` times. `serve` runs at the
   * receiver when a request arrives and produces the reply; a lost reply looks like a lost
   * request to the sender, which then asks again. `onTimeout` means: presumed dead.
   */
  rpc<T>(from: number, to: number, kind: string, serve: () => T, onReply: (reply: T) => void, onTimeout: () => void): void {
    const attempt = (left: number): void => {
      const giveUp = (): void => (left > 0 ? attempt(left - 1) : onTimeout());
      this.send(from, to, kind, () => {
        const reply = serve();
        if (this.rng.chance(this.config.lossRate)) {
          this.queue.schedule(Math.max(0, this.config.timeoutMs - this.model.delay(from, to)), giveUp);
          return;
        }
        this.queue.schedule(this.model.delay(to, from), () => onReply(reply));
      }, giveUp);
    };
    attempt(this.config.retries);
  }
}

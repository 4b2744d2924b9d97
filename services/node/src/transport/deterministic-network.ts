import type { NodeHandle } from '../core/node-handle';
import { Rng } from '../core/rng';
import { codeOf } from '../errors';
import { PeerService } from '../gen/pastry/v1/peer';
import { PeerCallError, type CallOptions, type OverlayEnv, type PeerCalls, type PeerMethod } from '../overlay/env';

/** Handles one Peer request on a node of the network (Overlay.handle). */
export type PeerHandler = <M extends PeerMethod>(method: M, request: PeerCalls[M][0], deadline: number) => Promise<PeerCalls[M][1]> | PeerCalls[M][1];

export interface LinkModel {
  /** One-way delay bounds in virtual ms; each message draws from [min, max]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a message (request or answer) is lost. */
  lossRate: number;
  /**
   * Whether messages go through the real protobuf encoding (default): it catches what would
   * not survive the wire; without it, large randomized runs are about twice as fast.
   */
  encode: boolean;
  /** One-way delay between two addresses (a latency model); replaces the [min, max] draw. */
  delayMs?: (from: string, to: string) => number;
}

export const DEFAULT_LINKS: LinkModel = { minDelayMs: 1, maxDelayMs: 5, lossRate: 0, encode: true };

const PASS_THROUGH: MethodCodec = { requestSerialize: (m) => m as Buffer, requestDeserialize: (b) => b, responseSerialize: (m) => m as Buffer, responseDeserialize: (b) => b };

interface Host {
  handler: PeerHandler | undefined;
  alive: boolean;
  /** Grows on every crash: timers and answers of an earlier life are dropped. */
  life: number;
  group: number;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

type MethodCodec = { requestSerialize(m: unknown): Buffer; requestDeserialize(b: Buffer): unknown; responseSerialize(m: unknown): Buffer; responseDeserialize(b: Buffer): unknown };

/**
 * A whole ring in one process, in virtual time: every message, delay, loss, crash and
 * partition is decided by one seeded generator, so a seed replays a run exactly. Messages
 * go through the real protobuf encoding. Between events the microtask queue is drained,
 * so async protocol and application code (the DHT, the memory store) runs as it would,
 * but only ever at the virtual time of the event that woke it.
 */
export class DeterministicNetwork {
  readonly rng: Rng;
  private readonly hosts = new Map<string, Host>();
  private readonly heap: Event[] = [];
  private seq = 0;
  private clock = 0;
  links: LinkModel;
  /** Messages sent, by method: the cost of a protocol, counted. */
  readonly sent = new Map<string, number>();
  delivered = 0;
  dropped = 0;
  /** Sees every call as it is sent (tests that measure what a protocol sends). */
  tap: (<M extends PeerMethod>(from: string, to: NodeHandle, method: M, request: PeerCalls[M][0]) => void) | undefined;

  constructor(
    readonly seed: number,
    links: Partial<LinkModel> = {},
  ) {
    this.rng = new Rng(seed);
    this.links = { ...DEFAULT_LINKS, ...links };
  }

  get now(): number {
    return this.clock;
  }

  /** Adds a host (or brings a crashed one back, with a new handler: a restart). */
  attach(address: string, handler: PeerHandler): void {
    const host = this.hosts.get(address);
    if (host) {
      host.handler = handler;
      host.alive = true;
    } else this.hosts.set(address, { handler, alive: true, life: 0, group: 0 });
  }

  /** The host stops at once: no answers, its timers and pending calls die with it. */
  crash(address: string): void {
    const host = this.hosts.get(address);
    if (!host) return;
    host.alive = false;
    host.handler = undefined;
    host.life++;
  }

  isAlive(address: string): boolean {
    return this.hosts.get(address)?.alive ?? false;
  }

  /** Splits hosts into groups that cannot reach each other; hosts not named stay in group 0. */
  partition(groups: string[][]): void {
    for (const h of this.hosts.values()) h.group = 0;
    groups.forEach((g, i) => g.forEach((a) => (this.hosts.get(a)!.group = i + 1)));
  }

  heal(): void {
    for (const h of this.hosts.values()) h.group = 0;
  }

  /** The environment of the node at `address`. */
  env(address: string): OverlayEnv {
    const host = (): Host => this.hosts.get(address)!;
    return {
      now: () => this.clock,
      random: () => this.rng.float(),
      setTimer: (ms, fn) => {
        const life = host().life;
        let cancelled = false;
        this.schedule(Math.max(0, Math.ceil(ms)), () => {
          if (!cancelled && host().alive && host().life === life) fn();
        });
        return () => (cancelled = true);
      },
      call: (to, method, request, options) => this.call(address, to, method, request, options),
    };
  }

  private call<M extends PeerMethod>(from: string, to: NodeHandle, method: M, request: PeerCalls[M][0], options: CallOptions): Promise<PeerCalls[M][1]> {
    const codec = this.links.encode ? (PeerService as unknown as Record<string, MethodCodec>)[method]! : PASS_THROUGH;
    const sender = this.hosts.get(from)!;
    const life = sender.life;
    this.sent.set(method, (this.sent.get(method) ?? 0) + 1);
    this.tap?.(from, to, method, request);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled || !sender.alive || sender.life !== life) return;
        settled = true;
        fn();
      };
      this.schedule(Math.max(0, Math.ceil(options.deadline - this.clock)), () => settle(() => reject(new PeerCallError('timeout', 4, `${method} to ${to.address}: deadline exceeded`))));
      const bytes = codec.requestSerialize(request);
      const target = this.hosts.get(to.address);
      if (!target || !target.alive) {
        // Nothing listens there: the connection is refused after one trip.
        this.schedule(this.delay(from, to.address), () => settle(() => reject(new PeerCallError('unreachable', 14, `${to.address}: connection refused`))));
        return;
      }
      if (!this.passes(sender, target)) return;
      const targetLife = target.life;
      this.schedule(this.delay(from, to.address), () => {
        if (!target.alive || target.life !== targetLife || !target.handler) return;
        this.delivered++;
        const answer = (fn: () => void): void => {
          if (!target.alive || target.life !== targetLife || !this.passes(target, sender)) return;
          this.schedule(this.delay(to.address, from), () => settle(fn));
        };
        let result: Promise<unknown>;
        try {
          result = Promise.resolve(target.handler(method, codec.requestDeserialize(bytes) as PeerCalls[M][0], options.deadline));
        } catch (error) {
          result = Promise.reject(error);
        }
        result.then(
          (res) => {
            const out = codec.responseSerialize(res);
            answer(() => resolve(codec.responseDeserialize(out) as PeerCalls[M][1]));
          },
          (error: unknown) => {
            const { code, message } = codeOf(error);
            answer(() => reject(new PeerCallError('refused', code, message)));
          },
        );
      });
    });
  }

  /** Whether one message gets from a to b: same side of any partition, and not lost. */
  private passes(a: Host, b: Host): boolean {
    if (a.group !== b.group) {
      this.dropped++;
      return false;
    }
    if (this.links.lossRate > 0 && this.rng.chance(this.links.lossRate)) {
      this.dropped++;
      return false;
    }
    return true;
  }

  private delay(from: string, to: string): number {
    const { minDelayMs, maxDelayMs, delayMs } = this.links;
    if (delayMs) return Math.max(0, Math.round(delayMs(from, to)));
    // Whole milliseconds, as Date.now() gives: versions and timestamps are integers.
    return Math.round(minDelayMs + this.rng.float() * (maxDelayMs - minDelayMs));
  }

  private schedule(ms: number, run: () => void): void {
    push(this.heap, { at: this.clock + ms, seq: this.seq++, run });
  }

  /** Runs events up to virtual time `until`, draining microtasks after each instant. */
  async runUntil(time: number): Promise<void> {
    const until = Math.ceil(time);
    await drain();
    while (this.heap.length > 0 && this.heap[0]!.at <= until) {
      const at = this.heap[0]!.at;
      this.clock = Math.max(this.clock, at);
      while (this.heap.length > 0 && this.heap[0]!.at === at) pop(this.heap)!.run();
      await drain();
    }
    this.clock = Math.max(this.clock, until);
  }

  runFor(ms: number): Promise<void> {
    return this.runUntil(this.clock + ms);
  }

  /** Runs until `done()` holds (checked after each instant) or `limitMs` pass; returns whether it held. */
  async runUntilTrue(done: () => boolean, limitMs: number): Promise<boolean> {
    const until = this.clock + Math.ceil(limitMs);
    await drain();
    while (!done()) {
      if (this.heap.length === 0 || this.heap[0]!.at > until) {
        this.clock = Math.max(this.clock, until);
        return done();
      }
      const at = this.heap[0]!.at;
      this.clock = Math.max(this.clock, at);
      while (this.heap.length > 0 && this.heap[0]!.at === at) pop(this.heap)!.run();
      await drain();
    }
    return true;
  }

  /** Runs until `promise` settles (or `limitMs` of virtual time pass) and returns its outcome. */
  async settle<T>(promise: Promise<T>, limitMs: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    await this.runUntilTrue(() => outcome !== undefined, limitMs);
    return outcome ?? { ok: false, error: new Error(`did not settle within ${limitMs} virtual ms`) };
  }
}

/** Lets every pending promise continuation run: setImmediate fires once the microtask queue is empty. */
function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function push(heap: Event[], e: Event): void {
  heap.push(e);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(heap[i]!, heap[p]!)) break;
    [heap[i], heap[p]] = [heap[p]!, heap[i]!];
    i = p;
  }
}

function pop(heap: Event[]): Event | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
  return top;
}

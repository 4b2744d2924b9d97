import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';

/**
 * Pastry's common API (FreePastry's rice.p2p.commonapi; Dabek et al., IPTPS 2003): the seam
 * between the overlay and the applications that run on it side by side. The overlay routes
 * and delivers opaque payloads tagged with an application id; each application owns its
 * message encoding, its storage and its errors.
 */

/** A routed message as an application sees it, at any hop. */
export interface RoutedMessage {
  readonly key: Id;
  readonly app: string;
  /** The application's message; `forward` may replace it for the hops after this one. */
  payload: Buffer;
  /** Nodes visited after the entry node, this node last (empty at the entry node). */
  readonly hops: readonly NodeHandle[];
  /** When the sender stops waiting, on this node's clock. */
  readonly deadline: number;
}

/** What an application's `forward` upcall decides at a hop. */
export type ForwardDecision =
  /**
   * Go on towards the key's root, with the (possibly changed) payload; through `next` instead
   * of the routing's next hop when set (e.g. a replica nearer to this node). If `next` fails,
   * routing goes on from this node as usual.
   */
  | { action: 'continue'; next?: NodeHandle }
  /** Stop here and answer: the message is served on the way (a cached copy, a tree node). */
  | { action: 'answer'; reply: Buffer };

export interface Application {
  /** Unique per node, carried in every message: "dht", "scribe", ... */
  readonly id: string;
  /**
   * Upcall at every node a message passes through, before it is sent on to `next`
   * (undefined when this node is the root and `deliver` follows). Optional.
   */
  forward?(message: RoutedMessage, next: NodeHandle | undefined): ForwardDecision | Promise<ForwardDecision>;
  /**
   * Upcall at a node that forwarded `message`, as the answer passes back through it towards
   * the sender (answers only, not errors): e.g. to cache what a read returned. Optional.
   */
  returned?(message: RoutedMessage, reply: Buffer): void;
  /** Upcall at the key's root; its result travels back to the sender. */
  deliver(message: RoutedMessage): Promise<Buffer>;
  /** A direct message from the same application on another node; its result is the answer. */
  receive?(from: NodeHandle, payload: Buffer): Promise<Buffer>;
  /** A node entered (`joined`) or left this node's leaf set. */
  update?(node: NodeHandle, joined: boolean): void;
}

/** The answer to a routed message. */
export interface RouteResult {
  /** The node that answered: the key's root, or a node that stopped the message on the way. */
  root: NodeHandle;
  /** Nodes visited after the entry node, ending with the node that answered. */
  hops: NodeHandle[];
  reply: Buffer;
  /** Hops that failed on the way and were routed around (the message may have reached them). */
  reroutes: number;
}

export interface RouteOptions {
  /** Absolute deadline on the node's clock. */
  deadline: number;
  /** Opaque to the overlay: the driver's per-request context (e.g. trace headers). */
  context?: unknown;
}

/** What an application gets when it registers: its handle on the overlay. */
export interface Endpoint {
  readonly self: NodeHandle;
  /** Joined a ring, not stopped. */
  readonly ready: boolean;
  /**
   * Routes `payload` to the root of `key`; the application's `forward` runs at every hop. A
   * refusal rejects with the root's error, whose `reroutes` counts as RouteResult's does.
   */
  route(key: Id, payload: Buffer, options: RouteOptions): Promise<RouteResult>;
  /** Sends `payload` to this application on `node`; resolves with its answer. */
  send(node: NodeHandle, payload: Buffer, options: RouteOptions): Promise<Buffer>;
  /** The k nodes closest to `key` by this node's leaf set (itself included), closest first. */
  replicaSet(key: Id, k: number, exclude?: Id): NodeHandle[];
  /** This node's leaf set, without itself. */
  leafSet(): NodeHandle[];
  /** Whether `key` lies in the range this node's leaf set spans (always, on a ring no larger than it). */
  leafSetCovers(key: Id): boolean;
  /** Smoothed round trip to `node` in ms as this node measured it; Infinity when never measured. */
  proximity(node: Id): number;
  /**
   * Pastry's nearest-replica heuristic: of the nodes this node believes (or, before its leaf
   * set covers the key, guesses from the ring's density) to be among the k closest to `key`,
   * the one nearest to this node by measured RTT; undefined when this node is one of them
   * or it knows none. `exclude`: nodes not to choose.
   */
  nearestReplica(key: Id, k: number, exclude?: ReadonlySet<Id>): NodeHandle | undefined;
  /** The node's randomness in [0, 1) (seeded in the test network). */
  random(): number;
  /** The node's clock (virtual in the test network): applications keep the node's time. */
  now(): number;
  /** The node's timers: runs `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

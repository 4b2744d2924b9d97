import type { NodeHandle } from '../core/node-handle';
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
  LeaveResponse,
  PingRequest,
  PingResponse,
  RoutingRow,
  RoutingRowRequest,
} from '../gen/pastry/v1/peer';

/**
 * What the overlay needs from the world, and all it gets: time, randomness, timers and a
 * way to call peers. The protocol performs no I/O of its own, so the gRPC node, the
 * simulator and the deterministic test network drive the same code.
 */
export interface OverlayEnv {
  /** Milliseconds; wall time for the gRPC node, virtual time in the test network. */
  now(): number;
  /** Uniform in [0, 1); seeded in the test network. */
  random(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. Timers never keep a process alive. */
  setTimer(ms: number, fn: () => void): () => void;
  /** Calls one Peer method on `to`. Rejects with a PeerCallError. */
  call<M extends PeerMethod>(to: NodeHandle, method: M, request: PeerCalls[M][0], options: CallOptions): Promise<PeerCalls[M][1]>;
  /** Forgets any connection to `node` (it was found dead). */
  disconnect?(node: NodeHandle): void;
}

export interface CallOptions {
  /** Absolute deadline on the env's clock. */
  deadline: number;
  /** Opaque to the overlay: the driver's per-request context (trace headers, hop timings). */
  context?: unknown;
}

/** Request and response type of each Peer method. */
export interface PeerCalls {
  join: [JoinRequest, JoinResponse];
  forward: [ForwardRequest, ForwardResponse];
  exchangeLeafSet: [LeafSetMessage, LeafSetMessage];
  getRoutingRow: [RoutingRowRequest, RoutingRow];
  announce: [AnnounceRequest, LeafSetMessage];
  ping: [PingRequest, PingResponse];
  leave: [LeaveRequest, LeaveResponse];
  direct: [DirectRequest, DirectResponse];
}

export type PeerMethod = keyof PeerCalls;

/**
 * How a peer call failed. Only `unreachable` and `timeout` say anything about the peer's
 * liveness; `refused` is an answer (the peer is alive and said no).
 */
export type CallFailure = 'unreachable' | 'timeout' | 'refused';

export class PeerCallError extends Error {
  constructor(
    readonly failure: CallFailure,
    /** A google.rpc.Code. */
    readonly code: number,
    message: string,
  ) {
    // Failed calls are routine (a dead peer, a partition): a stack trace per failure would
    // cost more than the call. The message says what failed.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'PeerCallError';
  }
}

/** Whether a failed call says the peer may be dead (a refusal never does). */
export function isTransportFailure(error: unknown): boolean {
  return error instanceof PeerCallError && error.failure !== 'refused';
}

export function isTimeout(error: unknown): boolean {
  return error instanceof PeerCallError && error.failure === 'timeout';
}

/** Resolves after `ms` of the env's time. */
export function sleep(env: OverlayEnv, ms: number): Promise<void> {
  return new Promise((resolve) => env.setTimer(ms, resolve));
}

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { NodeHandle } from '../core/node-handle';
import { REFUSAL_TRAILER, TARGET_METADATA, WRONG_NODE_TRAILER } from '../constants';
import { PeerCallError, type CallOptions, type OverlayEnv, type PeerCalls, type PeerMethod } from '../overlay/env';
import type { PeerPool } from '../rpc/peer-client';


/**
 * The overlay's environment on a real node: wall-clock time, Math.random, Node timers
 * that never hold the process open, and peer calls over gRPC.
 */
export class GrpcEnv implements OverlayEnv {
  constructor(private readonly peers: PeerPool) {}

  now(): number {
    return Date.now();
  }

  random(): number {
    return Math.random();
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }

  async call<M extends PeerMethod>(to: NodeHandle, method: M, request: PeerCalls[M][0], options: CallOptions): Promise<PeerCalls[M][1]> {
    let metadata = options.context as Metadata | undefined;
    if (to.id !== '') {
      // Names the node meant: the address may lead elsewhere now (TARGET_METADATA).
      metadata = metadata ? metadata.clone() : new Metadata();
      metadata.set(TARGET_METADATA, to.id);
    }
    try {
      return await this.peers.call(to.address, method, request, { deadline: options.deadline, metadata });
    } catch (error) {
      const failure = classify(error as ServiceError);
      // Another node answered at that address: a new channel resolves the name again.
      if (answeredByAnotherNode(error as ServiceError)) this.peers.drop(to.address);
      else if (failure.failure !== 'refused') this.peers.failed(to.address);
      throw failure;
    }
  }

  disconnect(node: NodeHandle): void {
    this.peers.drop(node.address);
  }
}

/** The call reached a node other than the one it named (see TARGET_METADATA). */
function answeredByAnotherNode(error: ServiceError): boolean {
  return (error?.metadata?.get?.(WRONG_NODE_TRAILER)?.length ?? 0) > 0;
}

/** Refusals are answers; only a transport failure or a timeout says the peer may be gone. */
export function classify(error: ServiceError): PeerCallError {
  const message = error?.details || error?.message || String(error);
  const code = typeof error?.code === 'number' ? error.code : status.UNKNOWN;
  if (answeredByAnotherNode(error)) return new PeerCallError('unreachable', code, message);
  if (error?.metadata?.get?.(REFUSAL_TRAILER)?.length) return new PeerCallError('refused', code, message);
  if (code === status.DEADLINE_EXCEEDED) return new PeerCallError('timeout', code, message);
  if (code === status.UNAVAILABLE || code === status.CANCELLED || code === status.UNKNOWN) return new PeerCallError('unreachable', code, message);
  return new PeerCallError('refused', code, message);
}

import { Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';

/** A generated client's unary method (bound to its client), in its four-argument form. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Watches one call, e.g. the node's RPC telemetry (its ClientCall is one). */
export interface CallObserver {
  /** The metadata to send (the caller's, plus e.g. the trace context). */
  readonly metadata: Metadata;
  /** The call's status arrived, with its trailing metadata. */
  end(code: number, trailers: Metadata | undefined): void;
}

export interface UnaryCallOptions {
  /** Absolute deadline, ms since the epoch. Every call has one. */
  deadline: number;
  /** Aborting cancels the call; the promise rejects with CANCELLED. */
  signal?: AbortSignal;
  metadata?: Metadata;
  /** Called once as the call starts, with `metadata`; its observer sees the status. */
  observe?: (metadata: Metadata | undefined) => CallObserver;
}

/** The error a call aborted before or while it ran rejects with, shaped as grpc-js's. */
export function cancelledError(): ServiceError {
  return Object.assign(new Error(`${status.CANCELLED} CANCELLED: cancelled`), { code: status.CANCELLED, details: 'cancelled', metadata: new Metadata() });
}

/**
 * The one wrapper for unary gRPC calls, used by the node's PeerPool and by the CLI: a
 * deadline on every call, cancellation through an AbortSignal, and an observer that sees
 * the status and trailers before the promise settles. Rejects with the grpc-js ServiceError.
 */
export function unaryCall<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: UnaryCallOptions): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(cancelledError());
      return;
    }
    const observer = options.observe?.(options.metadata);
    const onAbort = (): void => handle.cancel();
    // grpc-js calls back with the outcome, then emits 'status' (with the trailers) in the same
    // turn; settling on whichever comes second lets the observer read the trailers first.
    let outcome: { error: ServiceError | null; response: Res } | undefined;
    let statusSeen = false;
    const settle = (): void => {
      if (!outcome || !statusSeen) return;
      signal?.removeEventListener('abort', onAbort);
      if (outcome.error) reject(outcome.error);
      else resolve(outcome.response);
    };
    const handle = method(request, observer?.metadata ?? options.metadata ?? new Metadata(), { deadline: new Date(options.deadline) }, (error, response) => {
      outcome = { error, response };
      settle();
    });
    handle.on('status', (s) => {
      try {
        observer?.end(s.code, s.metadata);
      } finally {
        statusSeen = true;
        settle();
      }
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

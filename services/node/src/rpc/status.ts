import { status, type ServiceError } from '@grpc/grpc-js';
import {
  DataLossError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  PastryError,
  ResourceExhaustedError,
  UnavailableError,
} from '../errors';

/**
 * A failed peer call that propagated (grpc-js ServiceError: a numeric gRPC code): the same
 * code with a generic message, so that neither INTERNAL nor a peer's details reach a client.
 */
const PEER_FAILURES: Partial<Record<status, { code: status; message: string }>> = {
  [status.DEADLINE_EXCEEDED]: { code: status.DEADLINE_EXCEEDED, message: 'deadline exceeded at a peer' },
  [status.UNAVAILABLE]: { code: status.UNAVAILABLE, message: 'a peer was unreachable' },
  [status.CANCELLED]: { code: status.UNAVAILABLE, message: 'a peer was unreachable' },
  [status.UNKNOWN]: { code: status.UNAVAILABLE, message: 'a peer was unreachable' },
  [status.RESOURCE_EXHAUSTED]: { code: status.RESOURCE_EXHAUSTED, message: 'a limit was exceeded at a peer' },
  [status.INVALID_ARGUMENT]: { code: status.INVALID_ARGUMENT, message: 'a peer rejected the request as invalid' },
  [status.NOT_FOUND]: { code: status.NOT_FOUND, message: 'not found at a peer' },
  [status.DATA_LOSS]: { code: status.DATA_LOSS, message: 'data loss at a peer' },
};

/** Any other code a peer answered (INTERNAL, UNIMPLEMENTED, ...): this node could not get it served. */
const PEER_FAILED = { code: status.UNAVAILABLE, message: 'a peer failed the request' };

/** A grpc-js ServiceError, or anything shaped like one: a gRPC status code that is not OK. */
export function isGrpcError(error: unknown): error is { code: status } {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return error instanceof Error && typeof code === 'number' && Number.isInteger(code) && code > status.OK && code <= status.UNAUTHENTICATED;
}

/** The one place that maps typed errors to gRPC status codes. */
export function statusOf(error: unknown): { code: status; message: string } {
  if (error instanceof InvalidArgumentError) return { code: status.INVALID_ARGUMENT, message: error.message };
  if (error instanceof NotFoundError) return { code: status.NOT_FOUND, message: error.message };
  if (error instanceof ResourceExhaustedError) return { code: status.RESOURCE_EXHAUSTED, message: error.message };
  if (error instanceof UnavailableError) return { code: status.UNAVAILABLE, message: error.message };
  if (error instanceof DeadlineExceededError) return { code: status.DEADLINE_EXCEEDED, message: error.message };
  if (error instanceof DataLossError) return { code: status.DATA_LOSS, message: error.message };
  if (error instanceof PastryError) return { code: status.INTERNAL, message: 'internal error' };
  if (isGrpcError(error)) return PEER_FAILURES[error.code] ?? PEER_FAILED;
  // Internals never leak to a client.
  return { code: status.INTERNAL, message: 'internal error' };
}

export function toServiceError(error: unknown): Partial<ServiceError> {
  const { code, message } = statusOf(error);
  return { code, details: message, message };
}

/** The inverse, for errors that travel inside a ForwardResponse. */
export function errorFromStatus(code: number, message: string): Error {
  switch (code) {
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(message);
    case status.NOT_FOUND:
      return new NotFoundError(message);
    case status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(message);
    case status.UNAVAILABLE:
      return new UnavailableError(message);
    case status.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message);
    case status.DATA_LOSS:
      return new DataLossError(message);
    default:
      return new PastryError(message);
  }
}

/** A peer call failed at the transport: the peer is gone or unreachable. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as ServiceError | undefined)?.code;
  return code === status.UNAVAILABLE || code === status.CANCELLED || code === status.UNKNOWN;
}

export function isDeadline(error: unknown): boolean {
  return (error as ServiceError | undefined)?.code === status.DEADLINE_EXCEEDED;
}

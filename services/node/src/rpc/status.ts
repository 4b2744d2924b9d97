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

/** The one place that maps typed errors to gRPC status codes. */
export function statusOf(error: unknown): { code: status; message: string } {
  if (error instanceof InvalidArgumentError) return { code: status.INVALID_ARGUMENT, message: error.message };
  if (error instanceof NotFoundError) return { code: status.NOT_FOUND, message: error.message };
  if (error instanceof ResourceExhaustedError) return { code: status.RESOURCE_EXHAUSTED, message: error.message };
  if (error instanceof UnavailableError) return { code: status.UNAVAILABLE, message: error.message };
  if (error instanceof DeadlineExceededError) return { code: status.DEADLINE_EXCEEDED, message: error.message };
  if (error instanceof DataLossError) return { code: status.DATA_LOSS, message: error.message };
  if (error instanceof PastryError) return { code: status.INTERNAL, message: 'internal error' };
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

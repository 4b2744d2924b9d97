/** Typed errors; rpc/status.ts maps them to gRPC codes in one place. */
export class PastryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed: wrong id length, empty name, bad field. */
export class InvalidArgumentError extends PastryError {}

/** The object does not exist (or was removed). */
export class NotFoundError extends PastryError {}

/** A value or message over a configured limit. */
export class ResourceExhaustedError extends PastryError {}

/** This node cannot serve now (not joined, store down, no live route). */
export class UnavailableError extends PastryError {}

/** The request ran out of time. */
export class DeadlineExceededError extends PastryError {}

/** Stored bytes do not match their content address. */
export class DataLossError extends PastryError {}

/** google.rpc.Code values, so errors can travel as data between nodes of any driver. */
export const CODES = { OK: 0, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15 } as const;

/** The code and message of a typed error; anything else is INTERNAL with a generic message. */
export function codeOf(error: unknown): { code: number; message: string } {
  if (error instanceof InvalidArgumentError) return { code: CODES.INVALID_ARGUMENT, message: error.message };
  if (error instanceof NotFoundError) return { code: CODES.NOT_FOUND, message: error.message };
  if (error instanceof ResourceExhaustedError) return { code: CODES.RESOURCE_EXHAUSTED, message: error.message };
  if (error instanceof UnavailableError) return { code: CODES.UNAVAILABLE, message: error.message };
  if (error instanceof DeadlineExceededError) return { code: CODES.DEADLINE_EXCEEDED, message: error.message };
  if (error instanceof DataLossError) return { code: CODES.DATA_LOSS, message: error.message };
  return { code: CODES.INTERNAL, message: 'internal error' };
}

/** The typed error for a code that travelled as data. */
export function errorFromCode(code: number, message: string): Error {
  switch (code) {
    case CODES.INVALID_ARGUMENT:
      return new InvalidArgumentError(message);
    case CODES.NOT_FOUND:
      return new NotFoundError(message);
    case CODES.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(message);
    case CODES.UNAVAILABLE:
      return new UnavailableError(message);
    case CODES.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message);
    case CODES.DATA_LOSS:
      return new DataLossError(message);
    default:
      return new PastryError(message);
  }
}

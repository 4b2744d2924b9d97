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

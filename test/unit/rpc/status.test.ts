import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError, PastryError, UnavailableError } from '../../../services/node/src/errors';
import { isGrpcError, statusOf, toServiceError } from '../../../services/node/src/rpc/status';

/** What grpc-js rejects a failed client call with. */
function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

describe('statusOf', () => {
  it('maps typed errors to their codes, with their messages', () => {
    expect(statusOf(new InvalidArgumentError('key must be 16 bytes'))).toEqual({ code: status.INVALID_ARGUMENT, message: 'key must be 16 bytes' });
    expect(statusOf(new NotFoundError('no object'))).toEqual({ code: status.NOT_FOUND, message: 'no object' });
    expect(statusOf(new UnavailableError('not in a ring'))).toEqual({ code: status.UNAVAILABLE, message: 'not in a ring' });
    expect(statusOf(new DeadlineExceededError('late'))).toEqual({ code: status.DEADLINE_EXCEEDED, message: 'late' });
  });

  it('keeps unknown errors INTERNAL with a generic message', () => {
    expect(statusOf(new TypeError('cannot read properties of undefined (secret)'))).toEqual({ code: status.INTERNAL, message: 'internal error' });
    expect(statusOf(new PastryError('untyped'))).toEqual({ code: status.INTERNAL, message: 'internal error' });
    expect(statusOf('a string')).toEqual({ code: status.INTERNAL, message: 'internal error' });
    expect(statusOf(undefined)).toEqual({ code: status.INTERNAL, message: 'internal error' });
    // Node's system errors carry string codes: not gRPC statuses.
    expect(statusOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toEqual({ code: status.INTERNAL, message: 'internal error' });
  });

  it('maps a peer call that failed at the transport to the same code, never INTERNAL', () => {
    const peerDetails = 'No connection established. Last error: connect ECONNREFUSED 127.0.10.3:7000';
    expect(statusOf(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 1.5s'))).toEqual({ code: status.DEADLINE_EXCEEDED, message: 'deadline exceeded at a peer' });
    for (const code of [status.UNAVAILABLE, status.CANCELLED, status.UNKNOWN]) {
      expect(statusOf(serviceError(code, peerDetails))).toEqual({ code: status.UNAVAILABLE, message: 'a peer was unreachable' });
    }
    expect(statusOf(serviceError(status.RESOURCE_EXHAUSTED, 'Received message larger than max'))).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('never answers INTERNAL for any code a peer answered, and never quotes the peer', () => {
    for (let code = status.CANCELLED; code <= status.UNAUTHENTICATED; code++) {
      const s = statusOf(serviceError(code, 'join path too long at 10.0.0.7'));
      expect({ peer: status[code], code: s.code }).not.toEqual({ peer: status[code], code: status.INTERNAL });
      expect(s.message).not.toMatch(/10\.0\.0\.7|join path|internal/i);
    }
    expect(statusOf(serviceError(status.INVALID_ARGUMENT, 'x'))).toEqual({ code: status.INVALID_ARGUMENT, message: 'a peer rejected the request as invalid' });
    expect(statusOf(serviceError(status.INTERNAL, 'x'))).toEqual({ code: status.UNAVAILABLE, message: 'a peer failed the request' });
  });

  it('recognises gRPC errors by a numeric, non-OK status code', () => {
    expect(isGrpcError(serviceError(status.UNAVAILABLE, 'x'))).toBe(true);
    expect(isGrpcError(Object.assign(new Error('cancelled'), { code: status.CANCELLED }))).toBe(true);
    expect(isGrpcError(Object.assign(new Error('ok?'), { code: status.OK }))).toBe(false);
    expect(isGrpcError(Object.assign(new Error('out of range'), { code: 99 }))).toBe(false);
    expect(isGrpcError({ code: status.UNAVAILABLE })).toBe(false);
  });

  it('toServiceError carries the same code and message', () => {
    expect(toServiceError(serviceError(status.DEADLINE_EXCEEDED, 'x'))).toEqual({ code: status.DEADLINE_EXCEEDED, details: 'deadline exceeded at a peer', message: 'deadline exceeded at a peer' });
  });
});

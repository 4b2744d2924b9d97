import type { ServiceDefinition } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../errors';

/** Longest decoder message quoted back to the caller. */
const MAX_REASON_CHARS = 200;

/**
 * What a tolerant decoder yields for bytes that are not a valid request. grpc-js answers
 * INTERNAL when a request decoder throws; with this marker the handler wrapper
 * (rpc/handler.ts) answers INVALID_ARGUMENT instead, in the same place as every other error.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** The error a handler answers for a request that could not be decoded. */
export function malformedError(request: MalformedRequest): InvalidArgumentError {
  return new InvalidArgumentError(`malformed request: ${request.reason}`);
}

/**
 * A copy of a generated service definition whose request decoders never throw: a decode
 * failure becomes a MalformedRequest. Everything else (paths, encoders) is unchanged.
 */
export function tolerantDefinition<S extends ServiceDefinition>(definition: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          return new MalformedRequest(reason.slice(0, MAX_REASON_CHARS) || 'undecodable bytes');
        }
      },
    };
  }
  return out as S;
}

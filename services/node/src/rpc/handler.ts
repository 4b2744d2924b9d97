import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { REFUSAL_TRAILER, TARGET_METADATA, WRONG_NODE_TRAILER } from '../constants';
import type { Logger } from '../logger';
import type { RpcTelemetry } from '../telemetry/rpc-telemetry';
import { MalformedRequest, malformedError } from './malformed';
import { isGrpcError, toServiceError } from './status';

/** Deadline of an incoming call in ms since the epoch, capped for calls that set none. */
export function callDeadline(call: ServerUnaryCall<unknown, unknown>, now: number, capMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : typeof d === 'number' ? d : Infinity;
  return Math.min(Number.isFinite(ms) ? ms : Infinity, now + capMs);
}

/** What every handler of one node reports to: its logger and its RPC telemetry. */
export interface HandlerContext {
  log: Logger;
  telemetry: RpcTelemetry;
}

/** A call meant for another node reached this one (see TARGET_METADATA). */
export class WrongNodeError extends Error {
  constructor(
    readonly wanted: string,
    readonly self: string,
  ) {
    super(`this is node ${self}, not ${wanted}: the address now leads to another node`);
  }
}

/** Throws WrongNodeError when the call names a target that is not `selfId`. */
export function checkTarget(call: ServerUnaryCall<unknown, unknown>, selfId: string): void {
  const wanted = call.metadata.get(TARGET_METADATA)[0];
  if (typeof wanted === 'string' && wanted !== '' && wanted !== selfId) throw new WrongNodeError(wanted, selfId);
}

/**
 * A failed call as the status it answers, logged, with the refusal trailer: a refusal is an
 * answer, so the caller must not take this node for dead. Unary and streaming handlers alike.
 */
export function refusal(ctx: HandlerContext, method: string, error: unknown): Partial<ServiceError> & { metadata: Metadata } {
  const e = toServiceError(error);
  if (e.code === status.INTERNAL) ctx.log.error('request_failed', { method, error: String(error), stack: (error as Error)?.stack });
  else if (isGrpcError(error)) ctx.log.debug('request_rejected', { method, code: e.code, error: e.details, peerError: String(error) });
  else ctx.log.debug('request_rejected', { method, code: e.code, error: e.details });
  const metadata = new Metadata();
  metadata.set(REFUSAL_TRAILER, '1');
  return { ...e, metadata };
}

/**
 * Wraps an async handler: typed errors become gRPC statuses in one place, anything else
 * INTERNAL with a generic message. A handler never throws into grpc-js. A request the
 * decoder rejected (see rpc/malformed.ts) is INVALID_ARGUMENT and never reaches `fn`.
 */
export function unary<Req, Res>(
  ctx: HandlerContext,
  method: string,
  fn: (call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  const { log, telemetry } = ctx;
  return (call, callback) => {
    // Metrics for every call; the trace context, hop span and hop timings for routed ones.
    const observed = telemetry.server(method, call.metadata, call.request);
    observed
      .run(() =>
        Promise.resolve().then(() => {
          const request: unknown = call.request;
          if (request instanceof MalformedRequest) throw malformedError(request);
          return fn(call);
        }),
      )
      .then(
        (res) => callback(null, res, observed.end(0)),
        (error: unknown) => {
          if (error instanceof WrongNodeError) {
            // Not a refusal: for the caller the node it wanted is not at this address.
            log.debug('request_misdirected', { method, wanted: error.wanted });
            observed.end(status.UNAVAILABLE);
            const metadata = new Metadata();
            metadata.set(WRONG_NODE_TRAILER, error.self);
            callback({ code: status.UNAVAILABLE, details: error.message, metadata });
            return;
          }
          const e = refusal(ctx, method, error);
          observed.end(e.code ?? 2);
          callback(e);
        },
      );
  };
}

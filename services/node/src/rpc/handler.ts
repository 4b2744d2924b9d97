import { Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { REFUSAL_TRAILER } from '../constants';
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
          const e = toServiceError(error);
          if (e.code === 13) log.error('request_failed', { method, error: String(error), stack: (error as Error)?.stack });
          else if (isGrpcError(error)) log.debug('request_rejected', { method, code: e.code, error: e.details, peerError: String(error) });
          else log.debug('request_rejected', { method, code: e.code, error: e.details });
          observed.end(e.code ?? 2);
          // Marks a refusal, which is an answer: the caller must not take this node for dead.
          const metadata = new Metadata();
          metadata.set(REFUSAL_TRAILER, '1');
          callback({ ...e, metadata });
        },
      );
  };
}

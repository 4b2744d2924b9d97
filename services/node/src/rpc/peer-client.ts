import { credentials, Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { LIMITS } from '../constants';
import { rpcTelemetry } from '../telemetry/rpc-telemetry';
import { PeerClient } from '../gen/pastry/v1/peer';
import type { PeerCalls } from '../overlay/env';

export type { PeerCalls } from '../overlay/env';

export interface CallContext {
  /** Absolute deadline, ms since the epoch. */
  deadline: number;
  signal?: AbortSignal;
  metadata?: Metadata;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Calls peers by address over a pool of channels; every call has a deadline. */
export class PeerPool {
  private readonly clients = new Map<string, PeerClient>();

  client(address: string): PeerClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new PeerClient(address, credentials.createInsecure(), {
        'grpc.max_receive_message_length': LIMITS.maxGrpcMessageBytes,
        'grpc.max_send_message_length': LIMITS.maxGrpcMessageBytes,
        // A dead peer must fail fast rather than sit in reconnect backoff.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  /** Drops a channel, e.g. after its peer was found dead. */
  drop(address: string): void {
    const c = this.clients.get(address);
    if (c) {
      c.close();
      this.clients.delete(address);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Calls one Peer method on the node at `address`. */
  call<M extends keyof PeerCalls>(address: string, method: M, request: PeerCalls[M][0], ctx: CallContext): Promise<PeerCalls[M][1]> {
    const c = this.client(address);
    const fn = (c[method] as unknown as Unary<PeerCalls[M][0], PeerCalls[M][1]>).bind(c);
    return call(fn, request, ctx, method);
  }
}

function call<Req, Res>(method: Unary<Req, Res>, request: Req, ctx: CallContext, name: string): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (ctx.signal?.aborted) {
      reject(Object.assign(new Error('cancelled'), { code: 1 }));
      return;
    }
    // Client metrics; the trace context goes out with the call, hop timings come back in trailers.
    const observed = rpcTelemetry().client(name, ctx.metadata);
    const handle = method(request, observed.metadata, { deadline: new Date(ctx.deadline) }, (err, res) => {
      ctx.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res);
    });
    handle.on('status', (s) => observed.end(s.code, s.metadata));
    const onAbort = (): void => handle.cancel();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

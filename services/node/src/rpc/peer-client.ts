import { credentials, Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { LIMITS } from '../constants';
import {
  PeerClient,
  type ForwardRequest,
  type ForwardResponse,
  type JoinRequest,
  type JoinResponse,
  type LeafSetMessage,
  type AnnounceRequest,
  type PingRequest,
  type PingResponse,
  type RoutingRow,
  type RoutingRowRequest,
} from '../gen/pastry/v1/peer';

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

  join(address: string, req: JoinRequest, ctx: CallContext): Promise<JoinResponse> {
    const c = this.client(address);
    return call(c.join.bind(c) as Unary<JoinRequest, JoinResponse>, req, ctx);
  }

  forward(address: string, req: ForwardRequest, ctx: CallContext): Promise<ForwardResponse> {
    const c = this.client(address);
    return call(c.forward.bind(c) as Unary<ForwardRequest, ForwardResponse>, req, ctx);
  }

  exchangeLeafSet(address: string, req: LeafSetMessage, ctx: CallContext): Promise<LeafSetMessage> {
    const c = this.client(address);
    return call(c.exchangeLeafSet.bind(c) as Unary<LeafSetMessage, LeafSetMessage>, req, ctx);
  }

  getRoutingRow(address: string, req: RoutingRowRequest, ctx: CallContext): Promise<RoutingRow> {
    const c = this.client(address);
    return call(c.getRoutingRow.bind(c) as Unary<RoutingRowRequest, RoutingRow>, req, ctx);
  }

  announce(address: string, req: AnnounceRequest, ctx: CallContext): Promise<LeafSetMessage> {
    const c = this.client(address);
    return call(c.announce.bind(c) as Unary<AnnounceRequest, LeafSetMessage>, req, ctx);
  }

  ping(address: string, req: PingRequest, ctx: CallContext): Promise<PingResponse> {
    const c = this.client(address);
    return call(c.ping.bind(c) as Unary<PingRequest, PingResponse>, req, ctx);
  }
}

function call<Req, Res>(method: Unary<Req, Res>, request: Req, ctx: CallContext): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (ctx.signal?.aborted) {
      reject(Object.assign(new Error('cancelled'), { code: 1 }));
      return;
    }
    const handle = method(request, ctx.metadata ?? new Metadata(), { deadline: new Date(ctx.deadline) }, (err, res) => {
      ctx.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res);
    });
    const onAbort = (): void => handle.cancel();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

import { connectivityState, credentials, type Metadata } from '@grpc/grpc-js';
import { LIMITS } from '../constants';
import { NOOP_RPC_TELEMETRY, type RpcTelemetry } from '../telemetry/rpc-telemetry';
import { PeerClient, PeerService } from '../gen/pastry/v1/peer';
import { FrameChannel, NotFramedError, frameCall } from '../transport/frames';
import type { PeerCalls } from '../overlay/env';
import { unaryCall, type UnaryMethod } from './unary-call';

export interface CallContext {
  /** Absolute deadline, ms since the epoch. */
  deadline: number;
  signal?: AbortSignal;
  metadata?: Metadata;
}

/** How long a peer that does not speak frames is called over gRPC before frames are tried again. */
export const GRPC_ONLY_MS = 60_000;

/** Calls peers by address over a pool of channels; every call has a deadline. */
export class PeerPool {
  private readonly clients = new Map<string, PeerClient>();
  private readonly channels = new Map<string, FrameChannel>();
  /** Peers found not to speak frames (older nodes), called over gRPC until the time given. */
  private readonly grpcOnly = new Map<string, number>();

  /**
   * `telemetry`: the owning node's (client metrics, trace context, hop timings). `frames`:
   * call peers over the framed transport (transport/frames.ts) rather than gRPC; a peer that
   * does not speak it is called over gRPC for GRPC_ONLY_MS, then tried again (it may have
   * been upgraded).
   */
  constructor(
    private readonly telemetry: RpcTelemetry = NOOP_RPC_TELEMETRY,
    private readonly frames = false,
  ) {}

  client(address: string): PeerClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new PeerClient(address, credentials.createInsecure(), {
        'grpc.max_receive_message_length': LIMITS.maxGrpcMessageBytes,
        'grpc.max_send_message_length': LIMITS.maxGrpcMessageBytes,
        // A dead peer must fail fast rather than sit in reconnect backoff.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // A pod that restarts keeps its DNS name but gets a new IP: after a failure the name
        // is resolved again within a second, not grpc-js's default 30 s, or the restarted
        // peer stays unreachable (and out of the leaf set) that long.
        'grpc.dns_min_time_between_resolutions_ms': 1000,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  /** Drops a channel, e.g. after its peer was found dead. */
  drop(address: string): void {
    this.grpcOnly.delete(address);
    this.channels.get(address)?.close();
    this.channels.delete(address);
    const c = this.clients.get(address);
    if (c) {
      c.close();
      this.clients.delete(address);
    }
  }

  /**
   * A call to `address` failed: a channel that is not connected now is dropped, so the next
   * call resolves the name and connects afresh. grpc-js can keep a channel on a dead IP
   * (connect refused, "waiting for LB pick") after the name moved to a restarted pod.
   * A connected channel stays: its peer answered slowly, not at the wrong place.
   */
  failed(address: string): void {
    const f = this.channels.get(address);
    if (f && !f.usable) this.channels.delete(address);
    const c = this.clients.get(address);
    if (c && c.getChannel().getConnectivityState(false) !== connectivityState.READY) this.drop(address);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    for (const f of this.channels.values()) f.close();
    this.channels.clear();
  }

  /** Calls one Peer method on the node at `address`. */
  call<M extends keyof PeerCalls>(address: string, method: M, request: PeerCalls[M][0], ctx: CallContext): Promise<PeerCalls[M][1]> {
    if (this.frames && !this.isGrpcOnly(address)) {
      let channel = this.channels.get(address);
      if (!channel) this.channels.set(address, (channel = new FrameChannel(address)));
      const observer = this.telemetry.client(method, ctx.metadata);
      const codec = (PeerService as unknown as Record<string, Parameters<typeof frameCall>[1]>)[method]!;
      return frameCall<PeerCalls[M][1]>(channel, codec, request, observer.metadata, ctx.deadline, (code, trailers) => observer.end(code, trailers)).catch((error: unknown) => {
        if (!(error instanceof NotFramedError)) throw error;
        // Never served: made again over gRPC.
        this.grpcOnly.set(address, Date.now() + GRPC_ONLY_MS);
        this.channels.get(address)?.close();
        this.channels.delete(address);
        return this.grpcCall(address, method, request, ctx);
      });
    }
    return this.grpcCall(address, method, request, ctx);
  }

  private isGrpcOnly(address: string): boolean {
    const until = this.grpcOnly.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.grpcOnly.delete(address);
    return false;
  }

  private grpcCall<M extends keyof PeerCalls>(address: string, method: M, request: PeerCalls[M][0], ctx: CallContext): Promise<PeerCalls[M][1]> {
    const c = this.client(address);
    const fn = (c[method] as unknown as UnaryMethod<PeerCalls[M][0], PeerCalls[M][1]>).bind(c);
    // Client metrics; the trace context goes out with the call, hop timings come back in trailers.
    return unaryCall(fn, request, { ...ctx, observe: (metadata) => this.telemetry.client(method, metadata) });
  }
}

export type { PeerCalls } from '../overlay/env';

import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { Metadata } from '@grpc/grpc-js';
import { context, isSpanContextValid, trace, SpanKind, SpanStatusCode, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { HopReason } from '../core/routing-state';
import type { NodeHandle } from '../core/node-handle';
import { clientMethod, codeName, serverMethod } from './grpc-metrics';
import type { PastryMetrics, RoutedOperation } from './metrics';
import { extractContext, injectContext } from './tracing';

/**
 * The seam between rpc/ and telemetry: rpc/handler.ts asks for a ServerCall around every
 * handler, rpc/peer-client.ts for a ClientCall around every peer call, and the overlay's
 * onHop hook reports routing decisions. Each node owns one (Telemetry.rpc) and passes it
 * explicitly; NOOP_RPC_TELEMETRY serves tests and tools without telemetry.
 */
export interface RpcTelemetry {
  server(handlerName: string, metadata: Metadata, request: unknown): ServerCall;
  client(methodKey: string, metadata: Metadata | undefined): ClientCall;
  /** Annotates the routed message this node is working on (its hop span and timings). */
  recordHopDecision(reason: HopReason, hopIndex: number, prefixLength: number): void;
}

export interface ServerCall {
  /** Runs the handler in the call's trace context and hop scope. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** The handler finished with `code`; returns trailing metadata to send, if any. */
  end(code: number): Metadata | undefined;
}

export interface ClientCall {
  /** Metadata to send: the caller's, plus the trace context when tracing. */
  readonly metadata: Metadata;
  /** The call's status arrived. */
  end(code: number, trailers: Metadata | undefined): void;
}

/** A client asks for per-hop timings (pastry route --trace) with this request header. */
export const HOP_TIMINGS_REQUEST = 'pastry-hop-timings';
/** Trailer with the hop timings of this node and every node after it (JSON). */
export const HOP_TIMINGS_TRAILER = 'pastry-hop-timings-bin';
/** Trailer with the trace id the entry node recorded the request under. */
export const TRACE_ID_TRAILER = 'pastry-trace-id';
/** Timings carried at most: bounds the trailer (gRPC's default metadata limit is 8 KiB). */
export const MAX_HOP_TIMINGS = 24;

/** One node's part of a routed message, as the CLI prints it. */
export interface HopTiming {
  /** Hop index: 0 for the entry node. */
  i: number;
  id: string;
  name: string;
  address: string;
  /** Milliseconds from receiving the message to answering, later hops included. */
  ms: number;
  reason: HopReason | '';
  prefix: number;
  /** Span id of the node's pastry.route.hop span when it was recorded. */
  span: string;
}

/** Handler names of the routed methods, and the client operation each one starts. */
const HOP_METHODS: Record<string, RoutedOperation | 'forward'> = { Put: 'put', Get: 'get', Remove: 'remove', Route: 'route', 'Peer.Forward': 'forward' };

/** The routed message one node is working on: what its pastry.route.hop span describes. */
class HopScope {
  reason: HopReason | '' = '';
  prefixLength = 0;
  downstream: HopTiming[] = [];

  constructor(
    public hopIndex: number,
    readonly wantTimings: boolean,
    readonly span: Span | undefined,
  ) {}

  decide(reason: HopReason, hopIndex: number, prefixLength: number): void {
    this.reason = reason;
    this.hopIndex = hopIndex;
    this.prefixLength = prefixLength;
    this.span?.setAttributes({ 'pastry.hop.reason': reason, 'pastry.hop.index': hopIndex, 'pastry.prefix.length': prefixLength });
  }
}

/** Telemetry that records nothing: the default of PeerPool, and for tests and tools. */
export const NOOP_RPC_TELEMETRY: RpcTelemetry = Object.freeze({
  server: () => ({ run: <T>(work: () => Promise<T>) => work(), end: () => undefined }),
  client: (_key: string, metadata: Metadata | undefined) => ({ metadata: metadata ?? new Metadata(), end: () => undefined }),
  recordHopDecision: () => undefined,
});

/** Metrics for every call; spans and hop timings for routed ones. */
export class NodeRpcTelemetry implements RpcTelemetry {
  /** The routed message this node's handler is working on; per node, so nodes sharing a process never see each other's. */
  private readonly hopStorage = new AsyncLocalStorage<HopScope>();

  constructor(
    private readonly self: NodeHandle,
    private readonly metrics: PastryMetrics,
    private readonly tracer: Tracer | undefined,
  ) {}

  server(handlerName: string, metadata: Metadata, request: unknown): ServerCall {
    const t0 = performance.now();
    const m = serverMethod(handlerName);
    const operation = HOP_METHODS[handlerName];
    const wantTimings = operation !== undefined && metadata.get(HOP_TIMINGS_REQUEST).length > 0;
    let span: Span | undefined;
    let parent: Context | undefined;
    if (this.tracer) {
      parent = extractContext(metadata);
      if (operation !== undefined) {
        span = this.tracer.startSpan('pastry.route.hop', { kind: SpanKind.SERVER, attributes: this.hopAttributes(operation, request) }, parent);
      } else if (hasRemoteParent(parent)) {
        span = this.tracer.startSpan(`${m.service}/${m.method}`, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': m.service, 'rpc.method': m.method, 'pastry.node.id': this.self.id } }, parent);
      }
    }
    const scope = operation !== undefined && (span || wantTimings) ? new HopScope(hopIndexOf(operation, request), wantTimings, span) : undefined;
    return {
      run: <T>(work: () => Promise<T>): Promise<T> => {
        const traced = span && parent ? () => context.with(trace.setSpan(parent!, span!), work) : work;
        return scope ? this.hopStorage.run(scope, traced) : traced();
      },
      end: (code: number): Metadata | undefined => {
        const seconds = (performance.now() - t0) / 1000;
        this.metrics.grpc.server(m, code, seconds);
        if (operation !== undefined && operation !== 'forward') this.metrics.routed(operation, seconds);
        const trailers = scope?.wantTimings ? this.timingsTrailer(scope, seconds * 1000, operation !== 'forward') : undefined;
        if (span) {
          span.setAttribute('rpc.grpc.status_code', code);
          if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
          span.end();
        }
        return trailers;
      },
    };
  }

  client(methodKey: string, metadata: Metadata | undefined): ClientCall {
    const t0 = performance.now();
    const m = clientMethod(methodKey);
    // Only the forward to the next hop answers with the timings of the hops after it.
    const scope = methodKey === 'forward' ? this.hopStorage.getStore() : undefined;
    let outgoing = metadata ?? new Metadata();
    if (this.tracer && trace.getActiveSpan()) {
      outgoing = outgoing.clone();
      injectContext(outgoing);
    }
    return {
      metadata: outgoing,
      end: (code, trailers) => {
        this.metrics.grpc.client(m, code, (performance.now() - t0) / 1000);
        if (scope?.wantTimings && code === 0 && trailers) scope.downstream = parseTimings(trailers);
      },
    };
  }

  recordHopDecision(reason: HopReason, hopIndex: number, prefixLength: number): void {
    this.hopStorage.getStore()?.decide(reason, hopIndex, prefixLength);
  }

  private hopAttributes(operation: string, request: unknown): Record<string, string | number> {
    return { 'pastry.node.id': this.self.id, 'pastry.node.name': this.self.name, 'pastry.operation': operation, 'pastry.hop.index': hopIndexOf(operation, request) };
  }

  private timingsTrailer(scope: HopScope, ms: number, isEntry: boolean): Metadata {
    const spanContext = scope.span?.isRecording() ? scope.span.spanContext() : undefined;
    const own: HopTiming = {
      i: scope.hopIndex,
      id: this.self.id,
      name: this.self.name,
      address: this.self.address,
      ms: Math.round(ms * 1000) / 1000,
      reason: scope.reason,
      prefix: scope.prefixLength,
      span: spanContext?.spanId ?? '',
    };
    const trailers = new Metadata();
    trailers.set(HOP_TIMINGS_TRAILER, Buffer.from(JSON.stringify([own, ...scope.downstream].slice(0, MAX_HOP_TIMINGS))));
    if (isEntry && spanContext) trailers.set(TRACE_ID_TRAILER, spanContext.traceId);
    return trailers;
  }
}

function hasRemoteParent(ctx: Context): boolean {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && isSpanContextValid(sc);
}

/** Hop index of the node receiving `request`: 0 at the entry, else the hops so far. */
function hopIndexOf(operation: string, request: unknown): number {
  if (operation !== 'forward') return 0;
  const hops = (request as { hops?: unknown[] } | undefined)?.hops;
  return Array.isArray(hops) ? hops.length : 0;
}

/** The hop timings in trailing metadata; malformed input from a peer yields none. */
export function parseTimings(trailers: Metadata): HopTiming[] {
  const raw = trailers.get(HOP_TIMINGS_TRAILER)[0];
  if (raw === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : raw);
    if (!Array.isArray(parsed)) return [];
    return parsed.slice(0, MAX_HOP_TIMINGS).filter((t): t is HopTiming => typeof t === 'object' && t !== null && typeof (t as HopTiming).ms === 'number' && typeof (t as HopTiming).id === 'string');
  } catch {
    return [];
  }
}

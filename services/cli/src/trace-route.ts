import { randomBytes } from 'node:crypto';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { idFromBytes } from '../../node/src/core/id';
import { DhtClient } from '../../node/src/gen/pastry/v1/dht';
import { unaryCall } from '../../node/src/rpc/unary-call';
import { HOP_TIMINGS_REQUEST, TRACE_ID_TRAILER, parseTimings, type HopTiming } from '../../node/src/telemetry/rpc-telemetry';
import { clientError, keyFor, nodeView } from './client';
import type { Io } from './commands';
import { table } from './format';

/** A hop of `pastry route --trace`. */
export interface TracedHop {
  index: number;
  name: string;
  id: string;
  address: string;
  reason: string;
  prefixLength: number;
  /** From the node receiving the message to its answer, later hops included. */
  elapsedMs: number;
  /** This node's share: its own work and the link to the next hop (elapsedMs minus the next hop's). */
  hopMs: number;
  spanId: string;
}

export interface TracedRoute {
  key: string;
  traceId: string;
  /** True when the entry node recorded the trace (its nodes export traces). */
  recorded: boolean;
  root: ReturnType<typeof nodeView>;
  totalMs: number;
  hops: TracedHop[];
}

/** W3C traceparent of a new sampled trace whose root span is the CLI's request. */
export function newTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** Turns the timings the nodes returned (entry first) into hops with each node's share. */
export function tracedHops(timings: HopTiming[]): TracedHop[] {
  return timings.map((t, i) => {
    const next = timings[i + 1];
    return {
      index: t.i,
      name: t.name,
      id: t.id,
      address: t.address,
      reason: t.reason,
      prefixLength: t.prefix,
      elapsedMs: t.ms,
      hopMs: Math.max(0, t.ms - (next?.ms ?? 0)),
      spanId: t.span,
    };
  });
}

/** Routes the key with a new trace id and asks every node on the path for its timing. */
export async function traceRoute(target: string, key: string, timeoutMs: number): Promise<TracedRoute> {
  const client = new DhtClient(target, credentials.createInsecure());
  const { traceparent, traceId } = newTraceparent();
  const metadata = new Metadata();
  metadata.set('traceparent', traceparent);
  metadata.set(HOP_TIMINGS_REQUEST, '1');
  const t0 = performance.now();
  try {
    let trailers = new Metadata();
    const response = await unaryCall(client.route.bind(client), { key: keyFor(key) }, {
      deadline: Date.now() + timeoutMs,
      metadata,
      // The hop timings and the recorded trace id come back in the trailers.
      observe: (md) => ({ metadata: md ?? new Metadata(), end: (_code, t) => (trailers = t ?? trailers) }),
    }).catch((err: ServiceError) => {
      throw clientError(target, err);
    });
    const totalMs = performance.now() - t0;
    const recordedId = String(trailers.get(TRACE_ID_TRAILER)[0] ?? '');
    return {
      key: idFromBytes(response.key),
      traceId,
      recorded: recordedId === traceId,
      root: nodeView(response.root),
      totalMs: Math.round(totalMs * 1000) / 1000,
      hops: tracedHops(parseTimings(trailers)),
    };
  } finally {
    client.close();
  }
}

export async function traceRouteCommand(target: string, key: string, timeoutMs: number, json: boolean, io: Io): Promise<void> {
  const r = await traceRoute(target, key, timeoutMs);
  if (json) {
    io.out(JSON.stringify(r));
    return;
  }
  const overlayHops = Math.max(0, r.hops.length - 1);
  io.out(`key ${r.key} → root ${r.root.name || r.root.id} (${overlayHops} hop${overlayHops === 1 ? '' : 's'}), ${r.totalMs.toFixed(2)} ms round trip`);
  io.out(`trace ${r.traceId} ${r.recorded ? '(recorded by the nodes)' : '(not recorded: the nodes export no traces; start the ring with OTEL_* set)'}`);
  const ms = (v: number): string => v.toFixed(2);
  io.out(
    table(
      ['hop', 'name', 'id', 'address', 'reason', 'prefix', 'node ms', 'hop ms'],
      r.hops.map((h) => [String(h.index), h.name, h.id, h.address, h.reason, String(h.prefixLength), ms(h.elapsedMs), ms(h.hopMs)]),
    ),
  );
  io.out('node ms: from receiving the message to answering, later hops included; hop ms: this node and the link to the next');
}

import { status } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import { DhtService } from '../gen/pastry/v1/dht';
import { PeerService } from '../gen/pastry/v1/peer';
import { LATENCY_BUCKETS } from './buckets';

/** gRPC status code names as the `grpc_code` label: OK, NOT_FOUND, UNAVAILABLE, ... */
export const GRPC_CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

export function codeName(code: number | undefined): string {
  return (code !== undefined && GRPC_CODE_NAMES[code]) || 'UNKNOWN';
}

export interface GrpcMethod {
  /** Full service name, e.g. pastry.v1.Peer. */
  service: string;
  /** Method name as in the proto, e.g. Forward. */
  method: string;
}

type ServiceDefinition = Record<string, { path: string }>;

function methodsOf(definition: ServiceDefinition): Map<string, GrpcMethod> {
  const out = new Map<string, GrpcMethod>();
  for (const [key, d] of Object.entries(definition)) {
    const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(d.path) ?? [];
    if (service && method) out.set(key, { service, method });
  }
  return out;
}

/** Every Dht and Peer method, from the generated service definitions (new RPCs join by themselves). */
const DHT_METHODS = methodsOf(DhtService as unknown as ServiceDefinition);
const PEER_METHODS = methodsOf(PeerService as unknown as ServiceDefinition);

/** A server handler name as rpc/handler.ts knows it: 'Put' (Dht) or 'Peer.Forward'. */
export function serverMethod(handlerName: string): GrpcMethod {
  const dot = handlerName.indexOf('.');
  if (dot < 0) return { service: 'pastry.v1.Dht', method: handlerName };
  return { service: `pastry.v1.${handlerName.slice(0, dot)}`, method: handlerName.slice(dot + 1) };
}

/** A PeerPool method key ('forward') as the gRPC method it calls. */
export function clientMethod(key: string): GrpcMethod {
  return PEER_METHODS.get(key) ?? { service: 'pastry.v1.Peer', method: key.charAt(0).toUpperCase() + key.slice(1) };
}

type Labels = 'grpc_type' | 'grpc_service' | 'grpc_method';

interface MethodChildren {
  observe(code: number, seconds: number): void;
}

/**
 * grpc_{server,client}_handled_total{grpc_type,grpc_service,grpc_method,grpc_code} and
 * grpc_{server,client}_handling_seconds{grpc_type,grpc_service,grpc_method}, the names and
 * labels of go-grpc-prometheus so that existing gRPC dashboards work. Every method and code
 * is initialised at 0.
 */
export class GrpcMetrics {
  private readonly serverHandled: Counter<Labels | 'grpc_code'>;
  private readonly serverSeconds: Histogram<Labels>;
  private readonly clientHandled: Counter<Labels | 'grpc_code'>;
  private readonly clientSeconds: Histogram<Labels>;

  constructor(registry: Registry) {
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    this.serverHandled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by method and status code.',
      labelNames: [...labelNames, 'grpc_code'],
      registers: [registry],
    });
    this.serverSeconds = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time the server took to handle an RPC, by method.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.clientHandled = new Counter({
      name: 'grpc_client_handled_total',
      help: 'Peer RPCs this node made that completed, by method and status code.',
      labelNames: [...labelNames, 'grpc_code'],
      registers: [registry],
    });
    this.clientSeconds = new Histogram({
      name: 'grpc_client_handling_seconds',
      help: 'Time peer RPCs this node made took until the status arrived, by method.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    const codes = Object.values(GRPC_CODE_NAMES);
    for (const m of [...DHT_METHODS.values(), ...PEER_METHODS.values()]) {
      const labels = this.labels(m);
      this.serverSeconds.zero(labels);
      for (const grpc_code of codes) this.serverHandled.labels({ ...labels, grpc_code }).inc(0);
    }
    for (const m of PEER_METHODS.values()) {
      const labels = this.labels(m);
      this.clientSeconds.zero(labels);
      for (const grpc_code of codes) this.clientHandled.labels({ ...labels, grpc_code }).inc(0);
    }
  }

  server(m: GrpcMethod, code: number, seconds: number): void {
    this.children(this.serverChildren, m, this.serverHandled, this.serverSeconds).observe(code, seconds);
  }

  client(m: GrpcMethod, code: number, seconds: number): void {
    this.children(this.clientChildren, m, this.clientHandled, this.clientSeconds).observe(code, seconds);
  }

  // prom-client's labels() hashes the label set on every call; a call's metrics are looked up
  // once per method and code instead (these are on every RPC's path).
  private readonly serverChildren = new Map<string, MethodChildren>();
  private readonly clientChildren = new Map<string, MethodChildren>();

  private children(cache: Map<string, MethodChildren>, m: GrpcMethod, handled: Counter<Labels | 'grpc_code'>, seconds: Histogram<Labels>): MethodChildren {
    const key = `${m.service}/${m.method}`;
    let c = cache.get(key);
    if (!c) {
      const labels = this.labels(m);
      const byCode = new Map<number, Counter.Internal>();
      const histogram = seconds.labels(labels);
      c = {
        observe: (code, s) => {
          let counter = byCode.get(code);
          if (!counter) byCode.set(code, (counter = handled.labels({ ...labels, grpc_code: codeName(code) })));
          counter.inc();
          histogram.observe(s);
        },
      };
      cache.set(key, c);
    }
    return c;
  }

  private labels(m: GrpcMethod): Record<Labels, string> {
    return { grpc_type: 'unary', grpc_service: m.service, grpc_method: m.method };
  }
}

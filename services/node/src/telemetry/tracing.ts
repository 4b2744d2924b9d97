import type { Metadata } from '@grpc/grpc-js';
import {
  context,
  propagation,
  trace,
  ROOT_CONTEXT,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import type { NodeTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '../logger';

/** Name of the tracer every Pastry span comes from. */
export const TRACER_NAME = 'pastry';

export type TraceExporterKind = 'none' | 'otlp' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface TracingSettings {
  exporter: TraceExporterKind;
  protocol: OtlpProtocol;
  /** Something in the environment we could not honour, for one warning at start. */
  warning?: string;
}

/**
 * Reads the standard OTEL_* variables. Tracing is off unless configured: OTEL_TRACES_EXPORTER
 * (otlp | console | none) or, without it, an OTLP endpoint. OTEL_SDK_DISABLED=true wins.
 * Sampling (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), the endpoint, headers and batch
 * settings (OTEL_BSP_*) are read by the SDK itself.
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings {
  const protocolVar = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  let protocol: OtlpProtocol = 'http/protobuf';
  let warning: string | undefined;
  if (protocolVar === 'http/json') protocol = 'http/json';
  else if (protocolVar !== 'http/protobuf') warning = `OTLP protocol ${JSON.stringify(protocolVar)} is not supported; using http/protobuf`;
  if (/^true$/i.test(env.OTEL_SDK_DISABLED ?? '')) return { exporter: 'none', protocol };
  const configured = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (configured === '') {
    const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
    return { exporter: endpoint ? 'otlp' : 'none', protocol, warning };
  }
  const first = configured.split(',')[0]!.trim();
  if (first === 'otlp' || first === 'console' || first === 'none') return { exporter: first, protocol, warning };
  return { exporter: 'none', protocol, warning: `OTEL_TRACES_EXPORTER=${configured} is not supported (otlp, console or none); tracing is off` };
}

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    return values.length > 0 ? String(values[0]) : undefined;
  },
};

const metadataSetter: TextMapSetter<Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** The trace context (W3C traceparent/tracestate) a gRPC call carries. */
export function extractContext(metadata: Metadata | undefined): Context {
  return metadata ? propagation.extract(ROOT_CONTEXT, metadata, metadataGetter) : ROOT_CONTEXT;
}

/** Writes `ctx` (the active context by default) into outgoing metadata. */
export function injectContext(metadata: Metadata, ctx: Context = context.active()): void {
  propagation.inject(ctx, metadata, metadataSetter);
}

/**
 * Runs `fn` in a child span of the active span: store calls at the root, replication
 * fan-out. Without an active recording span (tracing off, unsampled, background work)
 * it just runs `fn`, so no trace is ever started here. `tracer` is the node's own (the
 * global one when undefined).
 */
export async function withChildSpan<T>(name: string, attributes: Attributes, tracer: Tracer | undefined, fn: (span?: Span) => Promise<T>): Promise<T> {
  const parent = trace.getActiveSpan();
  if (!parent || !parent.isRecording()) return fn();
  const span = (tracer ?? trace.getTracer(TRACER_NAME)).startSpan(name, { attributes });
  try {
    return await context.with(trace.setSpan(context.active(), span), () => fn(span));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * A node's tracer provider, set up from the environment; a no-op when off. The node's spans
 * come from its own provider (its resource, its exporter), not the global one: several
 * nodes in one process each export their own. register() also installs the process-wide
 * AsyncLocalStorage context manager and W3C propagator, which hold no per-node state (the
 * first registration wins; later ones are ignored).
 */
export class Tracing {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  private readonly provider: NodeTracerProvider | undefined;

  constructor(env: NodeJS.ProcessEnv, resource: Attributes, log: Logger) {
    const settings = tracingSettings(env);
    if (settings.warning) log.warn('tracing_config', { warning: settings.warning });
    this.enabled = settings.exporter !== 'none';
    if (this.enabled) {
      // The SDK and its exporters load only when tracing is on: they are a sixth of a node's start-up CPU.
      const { BatchSpanProcessor, NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
      const { defaultResource, detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
      this.provider = new NodeTracerProvider({
        resource: defaultResource().merge(resourceFromAttributes(resource)).merge(detectResources({ detectors: [envDetector] })),
        spanProcessors: [new BatchSpanProcessor(exporterFor(settings))],
      });
      // Sets the global provider, the AsyncLocalStorage context manager and the W3C propagator.
      this.provider.register();
      log.info('tracing_enabled', { exporter: settings.exporter, protocol: settings.protocol, sampler: env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on' });
    }
    this.tracer = this.provider ? this.provider.getTracer(TRACER_NAME) : trace.getTracer(TRACER_NAME);
  }

  /** Exports what is buffered and stops. */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown().catch(() => undefined);
  }
}

function exporterFor(settings: TracingSettings): SpanExporter {
  if (settings.exporter === 'console') return new (require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node')).ConsoleSpanExporter();
  if (settings.protocol === 'http/json') return new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  return new (require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

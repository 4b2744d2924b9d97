import type { Files } from '../files/files';
import type { Scribe } from '../scribe/scribe';
import type { Compute } from '../compute/compute';
import { watchFiles } from './file-metrics';
import { watchScribe } from './scribe-metrics';
import { watchCompute } from './compute-metrics';
import type { NodeHandle } from '../core/node-handle';
import type { Logger } from '../logger';
import type { OverlayHooks } from '../overlay/overlay';
import type { Store } from '../store/store';
import { InstrumentedStore } from './instrumented-store';
import { PastryMetrics, type OverlayView } from './metrics';
import { MetricsServer } from './metrics-server';
import { NodeRpcTelemetry, type RpcTelemetry } from './rpc-telemetry';
import type { CacheStats, DiversionCounts, FileDiversionCounts, ReplicationStats, StorageEvents } from './storage-metrics';
import { Tracing } from './tracing';

export interface TelemetryConfig {
  /** Address the /metrics server binds (the node's PASTRY_HOST). */
  host: string;
  /** PASTRY_METRICS_PORT; 0 turns the metrics server off. */
  metricsPort: number;
}

/**
 * Metrics and traces of one node: its own Prometheus registry and /metrics server, the
 * OpenTelemetry tracer (off unless OTEL_* configures an exporter), the overlay hooks, the
 * store decorator and the rpc/ seam. Nothing is process-global, so several nodes can share
 * a process (the in-process test network); `rpc` is handed to the node's PeerPool and
 * handlers explicitly.
 */
export class Telemetry {
  readonly metrics: PastryMetrics;
  readonly tracing: Tracing;
  /** What rpc/ reports to: server and client calls, hop decisions. */
  readonly rpc: RpcTelemetry;
  private readonly server: MetricsServer;
  metricsPort = 0;

  constructor(
    private readonly self: NodeHandle,
    private readonly config: TelemetryConfig,
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.metrics = new PastryMetrics(self.id);
    this.tracing = new Tracing(env, { 'service.name': 'pastry-node', 'service.instance.id': self.name || self.id, 'pastry.node.id': self.id }, log);
    this.server = new MetricsServer(this.metrics, log);
    this.rpc = new NodeRpcTelemetry(self, this.metrics, this.tracing.enabled ? this.tracing.tracer : undefined);
  }

  /** What replication, handoff and anti-entropy report (repairs, handoffs, under-replicated). */
  get storage(): StorageEvents {
    return this.metrics.storage;
  }

  /** Routing decisions, membership and maintenance, for metrics and the hop spans. */
  overlayHooks(): OverlayHooks {
    return {
      onHop: (reason, _key, hopIndex, prefixLength) => {
        this.metrics.hop(reason, hopIndex);
        this.rpc.recordHopDecision(reason, hopIndex, prefixLength);
      },
      onMembership: (event) => this.metrics.membershipEvent(event),
      onMaintenanceMessage: (kind) => this.metrics.maintenanceMessage(kind),
    };
  }

  /** Anti-entropy's running totals (repairs, handoffs, under-replicated), read on every scrape. */
  watchReplication(stats: ReplicationStats): void {
    this.metrics.storage.watchReplication(stats);
  }

  /** The route cache, for pastry_cache_entries, pastry_cache_bytes, pastry_cache_hits_total. */
  watchCache(cache: CacheStats): void {
    this.metrics.storage.watchCache(cache);
  }

  /** File sharing's totals, for the pastry_file_* series. */
  watchFiles(files: Files): void {
    watchFiles(this.metrics.registry, files);
  }

  watchScribe(scribe: Scribe): void {
    watchScribe(this.metrics.registry, scribe);
  }

  watchCompute(compute: Compute): void {
    watchCompute(this.metrics.registry, compute);
  }

  /** Replica and file diversion's totals, for pastry_diversion_events_total. */
  watchDiversion(counts: DiversionCounts | undefined, files?: FileDiversionCounts): void {
    this.metrics.storage.watchDiversion(counts, files);
  }

  /** The store's capacity, for pastry_store_capacity_bytes and pastry_store_utilization. */
  watchCapacity(bytes: number): void {
    this.metrics.storage.watchCapacity(bytes);
  }

  /** The store, timed and traced, with its objects and bytes counted. */
  instrumentStore(store: Store): Store {
    return new InstrumentedStore(store, this.metrics.storage, this.tracing.tracer);
  }

  /** The overlay the state gauges read; `ready` is the node's readiness (pastry_node_ready). */
  watchOverlay(overlay: OverlayView, ready?: () => boolean): void {
    this.metrics.watchOverlay(overlay, ready);
  }

  /** Starts the /metrics server. A port that cannot be bound is logged, not fatal. */
  async start(): Promise<void> {
    if (this.config.metricsPort === 0) return;
    try {
      this.metricsPort = await this.server.start(this.config.host, this.config.metricsPort);
      this.log.info('metrics_listening', { address: `${this.config.host}:${this.metricsPort}` });
    } catch (error) {
      this.log.error('metrics_bind_failed', { host: this.config.host, port: this.config.metricsPort, error: String(error) });
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.tracing.shutdown();
  }
}

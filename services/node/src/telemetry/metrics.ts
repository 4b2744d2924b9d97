import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HopReason } from '../core/routing-state';
import type { RoutingState } from '../core/routing-state';
import { childrenBy, HOP_BUCKETS, LATENCY_BUCKETS } from './buckets';
import { GrpcMetrics } from './grpc-metrics';
import { StorageMetrics } from './storage-metrics';

export const HOP_REASONS: HopReason[] = ['routing_table', 'leaf_set', 'rare_case', 'deliver'];
export const MEMBERSHIP_EVENTS = ['join', 'leave', 'failure'] as const;
export type MembershipEvent = (typeof MEMBERSHIP_EVENTS)[number];
/** Client operations, the `operation` label of pastry_route_duration_seconds. */
export const ROUTED_OPERATIONS = ['put', 'get', 'remove', 'route'] as const;
export type RoutedOperation = (typeof ROUTED_OPERATIONS)[number];
/** Maintenance message kinds known up front (others appear when first counted). */
export const MAINTENANCE_KINDS = ['exchange_leaf_set'];

/** What the overlay gauges read on every scrape. */
export interface OverlayView {
  readonly ready: boolean;
  readonly state: RoutingState;
  readonly stats: { forwarded: number; delivered: number; retries: number };
}

/** Sampling period of nodejs_eventloop_lag_*. */
export const EVENT_LOOP_MONITOR_MS = 100;

/**
 * One Prometheus registry per node (never prom-client's global `register`): routing,
 * overlay state, storage, gRPC and the default process metrics. Labels are bounded:
 * methods, codes, operations, reasons and event kinds, never keys or node ids (except the
 * one pastry_node_info series).
 */
export class PastryMetrics {
  readonly registry = new Registry();
  readonly grpc: GrpcMetrics;
  readonly storage: StorageMetrics;
  private readonly hops: Histogram;
  private readonly routeDuration: Histogram<'operation'>;
  private readonly decisions: Counter<'reason'>;
  private readonly membership: Counter<'event'>;
  private readonly maintenance: Counter<'kind'>;
  private overlay: OverlayView | undefined;
  private ready: () => boolean = () => false;

  constructor(nodeId: string) {
    // The event-loop delay monitor wakes the loop every `precision` ms: prom-client's 10 ms
    // default woke an idle node 100 times a second. Stalls worth an alert (tens of ms and
    // more) still show in the percentiles at 100 ms.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS });
    // Gauges named *_total break the naming rules (promtool check metrics); the same numbers
    // are in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    this.grpc = new GrpcMetrics(this.registry);
    this.storage = new StorageMetrics(this.registry);
    this.hops = new Histogram({
      name: 'pastry_route_hops',
      help: 'Overlay hops a routed message took after its entry node, observed at the node that delivered it.',
      buckets: HOP_BUCKETS,
      registers: [this.registry],
    });
    this.routeDuration = new Histogram({
      name: 'pastry_route_duration_seconds',
      help: 'Latency of client operations at their entry node, routing and the root\'s work included.',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.decisions = new Counter({
      name: 'pastry_route_decisions_total',
      help: 'Routing decisions taken by this node, by reason (routing_table, leaf_set, rare_case, deliver).',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.membership = new Counter({
      name: 'pastry_membership_events_total',
      help: 'Members this node learned of (join), saw leave gracefully (leave) or found dead (failure).',
      labelNames: ['event'],
      registers: [this.registry],
    });
    this.maintenance = new Counter({
      name: 'pastry_maintenance_messages_total',
      help: 'Maintenance messages this node sent, by kind.',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.hops.zero({});
    for (const operation of ROUTED_OPERATIONS) this.routeDuration.zero({ operation });
    for (const reason of HOP_REASONS) this.decisions.labels({ reason }).inc(0);
    for (const event of MEMBERSHIP_EVENTS) this.membership.labels({ event }).inc(0);
    for (const kind of MAINTENANCE_KINDS) this.maintenance.labels({ kind }).inc(0);
    new Gauge({ name: 'pastry_node_info', help: 'Always 1; the node id of this pod.', labelNames: ['node_id'], registers: [this.registry] }).set({ node_id: nodeId }, 1);
    this.overlayGauges();
  }

  /** The overlay whose state the gauges report; `ready` defaults to the overlay's. */
  watchOverlay(overlay: OverlayView, ready: () => boolean = () => overlay.ready): void {
    this.overlay = overlay;
    this.ready = ready;
  }

  private readonly routeDurationOf = childrenBy((operation: RoutedOperation) => this.routeDuration.labels({ operation }));
  private readonly decisionsOf = childrenBy((reason: HopReason) => this.decisions.labels({ reason }));

  routed(operation: RoutedOperation, seconds: number): void {
    this.routeDurationOf(operation).observe(seconds);
  }

  hop(reason: HopReason, hopIndex: number): void {
    this.decisionsOf(reason).inc();
    if (reason === 'deliver') this.hops.observe(hopIndex);
  }

  membershipEvent(event: MembershipEvent): void {
    this.membership.labels({ event }).inc();
  }

  maintenanceMessage(kind: string): void {
    this.maintenance.labels({ kind }).inc();
  }

  /** Prometheus text format of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private overlayGauges(): void {
    const self = this;
    const gauge = (name: string, help: string, read: (o: OverlayView) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(self.overlay ? read(self.overlay) : 0);
        },
      });
    };
    gauge('pastry_node_ready', '1 while this node is ready: joined a ring, its store reachable.', () => (this.ready() ? 1 : 0));
    gauge('pastry_leaf_set_size', 'Members in this node\'s leaf set (both sides).', (o) => o.state.leafSet.members().length);
    gauge('pastry_routing_table_entries', 'Filled slots of this node\'s routing table.', (o) => o.state.table.size);
    gauge('pastry_routing_table_rows_filled', 'Routing-table rows with at least one entry.', (o) => o.state.table.rowsFilled());
    gauge('pastry_neighborhood_set_size', 'Members in this node\'s neighbourhood set.', (o) => o.state.neighborhood.nodes().length);
    gauge('pastry_ring_size_estimate', 'This node\'s estimate of the ring\'s size, from its leaf-set density.', (o) => o.state.estimateRingSize());
    const counter = (name: string, help: string, read: (o: OverlayView) => number): void => {
      let last = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const now = self.overlay ? read(self.overlay) : 0;
          if (now > last) this.inc(now - last);
          last = Math.max(last, now);
        },
      });
    };
    counter('pastry_route_forwarded_total', 'Messages this node forwarded to a next hop.', (o) => o.stats.forwarded);
    counter('pastry_route_delivered_total', 'Messages delivered at this node (it was the root).', (o) => o.stats.delivered);
    counter('pastry_route_retries_total', 'Next hops that failed and were routed around.', (o) => o.stats.retries);
  }
}

import { PastryMetrics } from '../../../services/node/src/telemetry/metrics';
import { clientMethod, codeName, serverMethod } from '../../../services/node/src/telemetry/grpc-metrics';
import { RoutingState } from '../../../services/node/src/core/routing-state';

const SELF = { id: 'a'.repeat(32), address: '127.0.0.1:7000', name: 'pastry-0' };

function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('PastryMetrics', () => {
  it('exports every series from the start, at 0, with its label values', async () => {
    const m = new PastryMetrics(SELF.id);
    const s = series(await m.scrape());
    for (const name of [
      'pastry_node_ready',
      'pastry_leaf_set_size',
      'pastry_routing_table_entries',
      'pastry_routing_table_rows_filled',
      'pastry_neighborhood_set_size',
      'pastry_ring_size_estimate',
      'pastry_store_objects',
      'pastry_store_bytes',
      'pastry_under_replicated_objects',
      'pastry_antientropy_repairs_total',
      'pastry_handoff_objects_total',
      'pastry_route_hops_count',
      'pastry_route_retries_total',
    ]) {
      expect(s.get(name)).toBe(0);
    }
    for (const operation of ['put', 'get', 'remove', 'route']) expect(s.get(`pastry_route_duration_seconds_count{operation="${operation}"}`)).toBe(0);
    for (const event of ['join', 'leave', 'failure']) expect(s.get(`pastry_membership_events_total{event="${event}"}`)).toBe(0);
    for (const event of ['diverted', 'reclaimed', 'restored', 'dropped']) expect(s.get(`pastry_diversion_events_total{event="${event}"}`)).toBe(0);
    for (const reason of ['routing_table', 'leaf_set', 'rare_case', 'deliver']) expect(s.get(`pastry_route_decisions_total{reason="${reason}"}`)).toBe(0);
    expect(s.get('pastry_maintenance_messages_total{kind="exchange_leaf_set"}')).toBe(0);
    expect(s.get('grpc_server_handled_total{grpc_type="unary",grpc_service="pastry.v1.Dht",grpc_method="Get",grpc_code="NOT_FOUND"}')).toBe(0);
    expect(s.get('grpc_client_handled_total{grpc_type="unary",grpc_service="pastry.v1.Peer",grpc_method="Forward",grpc_code="UNAVAILABLE"}')).toBe(0);
    expect(s.get('grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="pastry.v1.Peer",grpc_method="Forward"}')).toBe(0);
    expect(s.get(`pastry_node_info{node_id="${SELF.id}"}`)).toBe(1);
    expect(s.has('process_cpu_seconds_total')).toBe(true);
  });

  it('records routing, membership, maintenance, gRPC and storage events', async () => {
    const m = new PastryMetrics(SELF.id);
    m.hop('routing_table', 0);
    m.hop('deliver', 2);
    m.routed('get', 0.003);
    m.membershipEvent('failure');
    m.maintenanceMessage('exchange_leaf_set');
    m.grpc.server(serverMethod('Peer.Forward'), 14, 0.01);
    m.grpc.client(clientMethod('forward'), 4, 0.5);
    m.storage.repaired(3);
    m.storage.handedOff(2);
    m.storage.setUnderReplicated(5);
    const s = series(await m.scrape());
    expect(s.get('pastry_route_decisions_total{reason="routing_table"}')).toBe(1);
    expect(s.get('pastry_route_hops_count')).toBe(1);
    expect(s.get('pastry_route_hops_sum')).toBe(2);
    expect(s.get('pastry_route_duration_seconds_count{operation="get"}')).toBe(1);
    expect(s.get('pastry_membership_events_total{event="failure"}')).toBe(1);
    expect(s.get('pastry_maintenance_messages_total{kind="exchange_leaf_set"}')).toBe(1);
    expect(s.get('grpc_server_handled_total{grpc_type="unary",grpc_service="pastry.v1.Peer",grpc_method="Forward",grpc_code="UNAVAILABLE"}')).toBe(1);
    expect(s.get('grpc_client_handled_total{grpc_type="unary",grpc_service="pastry.v1.Peer",grpc_method="Forward",grpc_code="DEADLINE_EXCEEDED"}')).toBe(1);
    expect(s.get('pastry_antientropy_repairs_total')).toBe(3);
    expect(s.get('pastry_handoff_objects_total')).toBe(2);
    expect(s.get('pastry_under_replicated_objects')).toBe(5);
  });

  it("reads replica diversion's running totals on every scrape, counting each event once", async () => {
    const m = new PastryMetrics(SELF.id);
    const counts = { diverted: 0, reclaimed: 0, restored: 0, dropped: 0 };
    m.storage.watchDiversion(counts);
    counts.diverted = 4;
    counts.restored = 1;
    let s = series(await m.scrape());
    expect(s.get('pastry_diversion_events_total{event="diverted"}')).toBe(4);
    expect(s.get('pastry_diversion_events_total{event="restored"}')).toBe(1);
    counts.diverted = 6;
    counts.reclaimed = 2;
    s = series(await m.scrape());
    expect(s.get('pastry_diversion_events_total{event="diverted"}')).toBe(6);
    expect(s.get('pastry_diversion_events_total{event="reclaimed"}')).toBe(2);
    expect(s.get('pastry_diversion_events_total{event="restored"}')).toBe(1);
    expect(s.get('pastry_diversion_events_total{event="dropped"}')).toBe(0);
  });

  it('reads the overlay state on every scrape', async () => {
    const m = new PastryMetrics(SELF.id);
    const state = new RoutingState(SELF, { leafSetSize: 4 });
    const stats = { forwarded: 0, delivered: 0, retries: 0 };
    let ready = false;
    m.watchOverlay({ ready: true, state, stats }, () => ready);
    for (const c of 'bcde') state.learn({ id: c.repeat(32), address: `${c}:1`, name: c }, 0, { proximity: 1 });
    stats.forwarded = 7;
    ready = true;
    const s = series(await m.scrape());
    expect(s.get('pastry_node_ready')).toBe(1);
    expect(s.get('pastry_leaf_set_size')).toBe(4);
    expect(s.get('pastry_routing_table_entries')).toBe(4);
    expect(s.get('pastry_neighborhood_set_size')).toBe(4);
    expect(s.get('pastry_route_forwarded_total')).toBe(7);
    stats.forwarded = 9;
    expect(series(await m.scrape()).get('pastry_route_forwarded_total')).toBe(9);
  });

  it('names gRPC methods and codes as go-grpc-prometheus does', () => {
    expect(serverMethod('Put')).toEqual({ service: 'pastry.v1.Dht', method: 'Put' });
    expect(serverMethod('Peer.ExchangeLeafSet')).toEqual({ service: 'pastry.v1.Peer', method: 'ExchangeLeafSet' });
    expect(clientMethod('exchangeLeafSet')).toEqual({ service: 'pastry.v1.Peer', method: 'ExchangeLeafSet' });
    expect(codeName(0)).toBe('OK');
    expect(codeName(5)).toBe('NOT_FOUND');
    expect(codeName(99)).toBe('UNKNOWN');
  });
});

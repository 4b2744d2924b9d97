import { Metadata, status } from '@grpc/grpc-js';
import { register as globalRegister } from 'prom-client';
import { createLogger } from '../../../services/node/src/logger';
import { PeerPool } from '../../../services/node/src/rpc/peer-client';
import { HOP_TIMINGS_REQUEST, parseTimings } from '../../../services/node/src/telemetry/rpc-telemetry';
import { Telemetry } from '../../../services/node/src/telemetry/telemetry';

/** Two nodes in one process, as the in-process test network runs them. */
function node(id: string, name: string): Telemetry {
  const self = { id: id.repeat(32), address: `127.0.0.1:${7000 + name.length}`, name };
  return new Telemetry(self, { host: '127.0.0.1', metricsPort: 0 }, createLogger({ node: self.id }, 'error'), {});
}

function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const PUT_OK = 'grpc_server_handled_total{grpc_type="unary",grpc_service="pastry.v1.Dht",grpc_method="Put",grpc_code="OK"}';
const LEAF_SET = 'pastry_route_decisions_total{reason="leaf_set"}';
const PING_UNAVAILABLE = 'grpc_client_handled_total{grpc_type="unary",grpc_service="pastry.v1.Peer",grpc_method="Ping",grpc_code="UNAVAILABLE"}';

describe('telemetry is per node, not per process', () => {
  let a: Telemetry;
  let b: Telemetry;

  beforeEach(() => {
    a = node('a', 'pastry-a');
    b = node('b', 'pastry-bb');
  });

  afterEach(async () => {
    await a.stop();
    await b.stop();
  });

  it('each node has its own registry, never the global one', async () => {
    expect(a.metrics.registry).not.toBe(b.metrics.registry);
    expect(a.metrics.registry).not.toBe(globalRegister);
    expect(a.rpc).not.toBe(b.rpc);
    expect(await a.metrics.scrape()).toContain(`pastry_node_info{node_id="${'a'.repeat(32)}"} 1`);
    expect(await b.metrics.scrape()).not.toContain('a'.repeat(32));
  });

  it('a hop and an RPC recorded on one node are not in the other\'s metrics', async () => {
    a.overlayHooks().onHop!('leaf_set', 'c'.repeat(32), 1, 3);
    const call = a.rpc.server('Put', new Metadata(), {});
    await call.run(async () => undefined);
    call.end(status.OK);
    const sa = series(await a.metrics.scrape());
    const sb = series(await b.metrics.scrape());
    expect(sa.get(LEAF_SET)).toBe(1);
    expect(sa.get(PUT_OK)).toBe(1);
    expect(sb.get(LEAF_SET)).toBe(0);
    expect(sb.get(PUT_OK)).toBe(0);
  });

  it('a PeerPool reports its calls to the telemetry it was given', async () => {
    const pool = new PeerPool(a.rpc);
    try {
      // Nothing listens on port 1: the call fails fast with UNAVAILABLE.
      await expect(pool.call('127.0.0.1:1', 'ping', { sender: undefined }, { deadline: Date.now() + 3000 })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      pool.close();
    }
    expect(series(await a.metrics.scrape()).get(PING_UNAVAILABLE)).toBe(1);
    expect(series(await b.metrics.scrape()).get(PING_UNAVAILABLE)).toBe(0);
  });

  it('a hop decision annotates only the node\'s own routed message', async () => {
    const metadata = new Metadata();
    metadata.set(HOP_TIMINGS_REQUEST, '1');
    const call = a.rpc.server('Peer.Forward', metadata, { hops: [{}, {}] });
    await call.run(async () => {
      a.overlayHooks().onHop!('leaf_set', 'c'.repeat(32), 2, 4);
      // Another node deciding in the same async context (an in-process hop) must not touch a's hop.
      b.overlayHooks().onHop!('routing_table', 'c'.repeat(32), 9, 9);
    });
    const [own] = parseTimings(call.end(status.OK)!);
    expect(own).toMatchObject({ id: 'a'.repeat(32), i: 2, reason: 'leaf_set', prefix: 4 });
  });
});

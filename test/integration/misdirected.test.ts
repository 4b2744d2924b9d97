import { loadConfig } from '../../services/node/src/config';
import { PastryNode } from '../../services/node/src/node';
import { PeerCallError } from '../../services/node/src/overlay/env';
import { PeerPool } from '../../services/node/src/rpc/peer-client';
import { GrpcEnv } from '../../services/node/src/transport/grpc-env';

// On Kubernetes a peer's address is a DNS name, and a restarted pod gets a new IP while its
// old IP may go to another pod: a channel opened before can reach a node other than the one
// meant. Here the same host:port is reused by another node, as an IP is.
jest.setTimeout(60_000);

const SUBNET = '127.0.29';

function node(name: string, host: string, seeds: string[], founder: boolean): PastryNode {
  return new PastryNode(
    loadConfig({
      PASTRY_NODE_NAME: name,
      PASTRY_HOST: host,
      PASTRY_PORT: '7000',
      PASTRY_SEEDS: seeds.join(','),
      PASTRY_FOUNDER: String(founder),
      PASTRY_METRICS_PORT: '0',
      PASTRY_MAINTENANCE_INTERVAL_MS: '200',
      PASTRY_PARTITION_PROBE_INTERVAL_MS: '500',
      PASTRY_ANTIENTROPY_INTERVAL_MS: '1000',
      PASTRY_RPC_TIMEOUT_MS: '1000',
      PASTRY_SHUTDOWN_GRACE_MS: '1000',
      PASTRY_LOG_LEVEL: 'error',
    }),
  );
}

/** A crash: the server stops at once, no leave is announced. */
async function crash(n: PastryNode): Promise<void> {
  n.overlay.stop();
  await n.antiEntropy.stop();
  await n.rpc.stop(0);
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a call that reaches another node than the one meant', () => {
  const running: PastryNode[] = [];
  const pools: PeerPool[] = [];

  afterEach(async () => {
    for (const p of pools.splice(0)) p.close();
    for (const n of running.splice(0)) await n.stop().catch(() => undefined);
  });

  /** Node a serving on SUBNET.1, and a GrpcEnv over a pool of its own to call it with. */
  async function nodeAndEnv(): Promise<{ a: PastryNode; env: GrpcEnv; clients: Map<string, unknown> }> {
    const a = node('pastry-a', `${SUBNET}.1`, [], true);
    running.push(a);
    await a.start();
    const pool = new PeerPool();
    pools.push(pool);
    return { a, env: new GrpcEnv(pool), clients: (pool as unknown as { clients: Map<string, unknown> }).clients };
  }

  /** What the call rejected with; undefined when it succeeded. */
  const rejection = (call: Promise<unknown>): Promise<unknown> =>
    call.then(
      () => undefined,
      (e: unknown) => e,
    );

  it('is answered as unreachable for that node, and the channel is dropped so the address is resolved again', async () => {
    const { a, env, clients } = await nodeAndEnv();
    const address = `${SUBNET}.1:7000`;

    // Meant for a, or for nobody in particular (a seed): answered.
    const pong = await env.call({ id: a.self.id, address, name: 'pastry-a' }, 'ping', { sender: undefined }, { deadline: Date.now() + 2000 });
    expect(pong.responder?.name).toBe('pastry-a');
    await env.call({ id: '', address, name: '' }, 'ping', { sender: undefined }, { deadline: Date.now() + 2000 });

    // Meant for another node: unreachable (not a refusal), and the channel is gone.
    expect(clients.has(address)).toBe(true);
    const other = 'f'.repeat(32);
    const error = await rejection(env.call({ id: other, address, name: 'pastry-x' }, 'ping', { sender: undefined }, { deadline: Date.now() + 2000 }));
    expect(error).toBeInstanceOf(PeerCallError);
    expect((error as PeerCallError).failure).toBe('unreachable');
    expect((error as PeerCallError).message).toContain(`not ${other}`);
    expect(clients.has(address)).toBe(false);
  });

  it('a failed call drops a channel that is not connected, and keeps a connected one', async () => {
    const { a, env, clients } = await nodeAndEnv();
    // Nothing listens there: the channel never connects, and goes.
    const nowhere = `${SUBNET}.9:7000`;
    const error = await rejection(env.call({ id: 'e'.repeat(32), address: nowhere, name: 'gone' }, 'ping', { sender: undefined }, { deadline: Date.now() + 500 }));
    expect(error).toBeInstanceOf(PeerCallError);
    expect(clients.has(nowhere)).toBe(false);
    // A refusal from a connected peer leaves its channel in place.
    const address = `${SUBNET}.1:7000`;
    await env.call({ id: a.self.id, address, name: 'pastry-a' }, 'ping', { sender: undefined }, { deadline: Date.now() + 2000 });
    const refused = await rejection(
      env.call({ id: a.self.id, address, name: 'pastry-a' }, 'direct', { sender: undefined, app: 'no-such-app', payload: Buffer.alloc(0) }, { deadline: Date.now() + 2000 }),
    );
    expect((refused as PeerCallError).failure).toBe('refused');
    expect(clients.has(address)).toBe(true);
  });

  it('a crashed node whose address another node took leaves the leaf sets, and the newcomer takes its place', async () => {
    const a = node('pastry-a', `${SUBNET}.1`, [], true);
    const b = node('pastry-b', `${SUBNET}.2`, [`${SUBNET}.1:7000`], false);
    running.push(a, b);
    await a.start();
    await b.start();
    const members = (n: PastryNode) => n.overlay.state.leafSet.members();
    await until('a and b in one ring', () => members(a).some((m) => m.id === b.self.id) && members(b).some((m) => m.id === a.self.id));

    await crash(b);
    running.splice(running.indexOf(b), 1);
    // Another node at b's address, as another pod at a dead pod's IP.
    const c = node('pastry-c', `${SUBNET}.2`, [`${SUBNET}.1:7000`], false);
    running.push(c);
    await c.start();

    await until('b gone from a, c in its place', () => {
      const m = members(a);
      return !m.some((x) => x.id === b.self.id) && m.some((x) => x.id === c.self.id && x.address === `${SUBNET}.2:7000`);
    });
    // c may have heard of b from a before a dropped it; it finds b is not at that address.
    await until('c knows only a', () => members(c).length === 1 && members(c)[0]!.id === a.self.id);
  });
});

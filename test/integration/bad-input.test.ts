import { credentials, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { PastryClient } from '../../services/cli/src/client';
import { DhtClient } from '../../services/node/src/gen/pastry/v1/dht';
import { MessagingClient, type SubscribeResponse } from '../../services/node/src/gen/pastry/v1/messaging';
import { PeerClient } from '../../services/node/src/gen/pastry/v1/peer';
import { startRing, type TestRing } from '../helpers/local-ring';
import { closest } from '../helpers/replicas';

jest.setTimeout(120_000);

function callRaw<Req, Res>(fn: (req: Req, md: Metadata, opts: object, cb: (e: ServiceError | null, r: Res) => void) => unknown, req: Req): Promise<ServiceError | Res> {
  return new Promise((resolve) => fn(req, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (e, r) => resolve(e ?? r)));
}

function expectCode(result: unknown, code: status, pattern: RegExp): void {
  expect((result as ServiceError).code).toBe(code);
  expect((result as ServiceError).details).toMatch(pattern);
}

describe('bad input gets a clear error and the node stays up', () => {
  let ring: TestRing;
  let target: string;
  let dht: DhtClient;
  let peer: PeerClient;
  let messaging: MessagingClient;

  beforeAll(async () => {
    ring = await startRing(3, '127.0.12', { PASTRY_MAX_VALUE_BYTES: '1024' });
    target = ring.state().pods[0]!.address;
    dht = new DhtClient(target, credentials.createInsecure());
    peer = new PeerClient(target, credentials.createInsecure());
    messaging = new MessagingClient(target, credentials.createInsecure());
  });

  afterAll(async () => {
    dht?.close();
    peer?.close();
    messaging?.close();
    await ring?.down();
  });

  afterEach(async () => {
    // Whatever was sent, the node still serves.
    const c = new PastryClient(target);
    try {
      expect((await c.status()).ready).toBe(true);
      await c.put('still-up', Buffer.from('yes'));
      expect((await c.get('still-up')).value.toString()).toBe('yes');
    } finally {
      c.close();
    }
  });

  it('a GUID of the wrong length', async () => {
    const r = await callRaw(dht.get.bind(dht), { key: { guid: Buffer.alloc(15), name: '' } });
    expectCode(r, status.INVALID_ARGUMENT, /16 bytes.*got 15/);
    const r2 = await callRaw(dht.remove.bind(dht), { key: { guid: Buffer.alloc(17), name: '' } });
    expectCode(r2, status.INVALID_ARGUMENT, /16 bytes.*got 17/);
  });

  it('an empty name, or both a name and a GUID', async () => {
    expectCode(await callRaw(dht.get.bind(dht), { key: { guid: Buffer.alloc(0), name: '' } }), status.INVALID_ARGUMENT, /exactly one of guid/);
    expectCode(await callRaw(dht.get.bind(dht), { key: undefined }), status.INVALID_ARGUMENT, /exactly one of guid/);
    expectCode(await callRaw(dht.route.bind(dht), { key: { guid: Buffer.alloc(16), name: 'x' } }), status.INVALID_ARGUMENT, /exactly one of guid/);
  });

  it('an oversized value', async () => {
    const r = await callRaw(dht.put.bind(dht), { name: 'big', value: Buffer.alloc(1025) });
    expectCode(r, status.RESOURCE_EXHAUSTED, /1025 bytes, over the limit of 1024/);
    const c = new PastryClient(target);
    try {
      await expect(c.get('big')).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      c.close();
    }
  });

  it('a missing object is NOT_FOUND', async () => {
    expectCode(await callRaw(dht.get.bind(dht), { key: { guid: Buffer.alloc(0), name: 'never-written' } }), status.NOT_FOUND, /no object/);
  });

  it('malformed Peer requests', async () => {
    const fwd = { key: Buffer.alloc(3), app: 'dht', payload: Buffer.alloc(0), hops: [] };
    expectCode(await callRaw(peer.forward.bind(peer), fwd), status.INVALID_ARGUMENT, /key must be 16 bytes/);
    const badHop = { ...fwd, key: Buffer.alloc(16), hops: [{ id: Buffer.alloc(4), address: 'x:1', name: '' }] };
    expectCode(await callRaw(peer.forward.bind(peer), badHop), status.INVALID_ARGUMENT, /hops\[0\]\.id must be 16 bytes/);
    expectCode(await callRaw(peer.join.bind(peer), { joiner: undefined, path: [] }), status.INVALID_ARGUMENT, /joiner is missing/);
    const badSender = { sender: { id: Buffer.alloc(16), address: 'no port', name: '' }, leafSet: [] };
    expectCode(await callRaw(peer.exchangeLeafSet.bind(peer), badSender), status.INVALID_ARGUMENT, /address must be host:port/);
    expectCode(await callRaw(peer.getRoutingRow.bind(peer), { sender: { id: Buffer.alloc(16), address: 'a:1', name: '' }, index: 99 }), status.INVALID_ARGUMENT, /row index/);
  });

  it('a join path of 64 entries, at nodes that are not the joiner\'s root, is never INTERNAL', async () => {
    const pods = ring.state().pods;
    const joinerId = 'ab'.repeat(16);
    const root = closest(pods.map((p) => p.id), joinerId, 1)[0];
    const path = Array.from({ length: 64 }, (_, i) => ({ id: Buffer.from((i + 1).toString(16).padStart(32, '0'), 'hex'), address: `127.0.12.${100 + (i % 50)}:7000`, name: `hop-${i}` }));
    const joiner = { id: Buffer.from(joinerId, 'hex'), address: '127.0.12.99:7000', name: 'joiner' };
    const others = pods.filter((p) => p.id !== root);
    expect(others.length).toBeGreaterThanOrEqual(2);
    for (const pod of others) {
      const c = new PeerClient(pod.address, credentials.createInsecure());
      try {
        const r = await callRaw(c.join.bind(c), { joiner, path });
        // A refusal comes back as a gRPC error, or in the answer (a refusal on the way is data).
        const answered = r as unknown as { errorCode?: number; errorMessage?: string };
        const code = (r as ServiceError).code ?? answered.errorCode;
        const details = (r as ServiceError).details ?? answered.errorMessage;
        expect(code).toBeDefined();
        expect(code).not.toBe(status.OK);
        expect({ pod: pod.name, code, details }).not.toMatchObject({ code: status.INTERNAL });
        expect(details).not.toMatch(/internal/i);
      } finally {
        c.close();
      }
    }
  });

  it('bad Messaging requests, and the topic stays empty', async () => {
    const topic = 'bad-input-topic';
    const publish = messaging.publish.bind(messaging);
    expectCode(await callRaw(publish, { topic, payload: Buffer.alloc(64 * 1024 + 1), publisher: '' }), status.INVALID_ARGUMENT, /payload is 65537 bytes/);
    expectCode(await callRaw(publish, { topic: 't'.repeat(257), payload: Buffer.from('x'), publisher: '' }), status.INVALID_ARGUMENT, /longer than 256 bytes/);
    expectCode(await callRaw(publish, { topic: 'a\u0000b', payload: Buffer.from('x'), publisher: '' }), status.INVALID_ARGUMENT, /NUL/);
    expectCode(await callRaw(publish, { topic, payload: Buffer.from('x'), publisher: 'p'.repeat(129) }), status.INVALID_ARGUMENT, /publisher is longer than 128 bytes/);
    expectCode(await callRaw(messaging.send.bind(messaging), { to: 'n'.repeat(129), payload: Buffer.from('x'), publisher: '' }), status.INVALID_ARGUMENT, /inbox name is longer than 128 bytes/);
    expectCode(await callRaw(messaging.anycast.bind(messaging), { topic: '', payload: Buffer.from('x'), publisher: '' }), status.INVALID_ARGUMENT, /topic is empty/);
    // Subscribe: both a topic and an inbox; then the topic, which nothing was published to.
    const first = (request: { topic: string; fromSequence: number; inbox: string }): Promise<SubscribeResponse | ServiceError> =>
      new Promise((resolve) => {
        const stream = messaging.subscribe(request, { deadline: new Date(Date.now() + 5000) });
        stream.on('data', (event: SubscribeResponse) => {
          stream.cancel();
          resolve(event);
        });
        stream.on('error', (e: ServiceError) => resolve(e));
      });
    expectCode(await first({ topic, fromSequence: 0, inbox: 'me' }), status.INVALID_ARGUMENT, /set topic or inbox, not both/);
    expect(await first({ topic, fromSequence: 1, inbox: '' })).toMatchObject({ subscribed: { topic, sequence: 0, oldestRetained: 0 } });
  });

  it('bytes that are not a protobuf message at all', async () => {
    const raw = peer as unknown as Client;
    const r = await new Promise<ServiceError | null>((resolve) => {
      raw.makeUnaryRequest(
        '/pastry.v1.Peer/Forward',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
        new Metadata(),
        { deadline: new Date(Date.now() + 5000) },
        (e) => resolve(e),
      );
    });
    expect(r?.code).toBeDefined();
    expect(r?.code).not.toBe(status.OK);
  });
});

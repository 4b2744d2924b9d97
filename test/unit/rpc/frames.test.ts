import net from 'node:net';
import { Metadata, Server, ServerCredentials, status, type ServerUnaryCall, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import { PeerPool } from '../../../services/node/src/rpc/peer-client';
import { PeerService, type DirectRequest, type DirectResponse } from '../../../services/node/src/gen/pastry/v1/peer';
import { tolerantDefinition } from '../../../services/node/src/rpc/malformed';
import { FRAME_MAGIC, FrameChannel, frameCall, FrameServer } from '../../../services/node/src/transport/frames';

type Handler = (call: ServerUnaryCall<DirectRequest, DirectResponse>, callback: sendUnaryData<DirectResponse>) => void;
const codec = PeerService.direct as unknown as Parameters<typeof frameCall>[1];

/** A FrameServer behind a loopback listener that reads the magic as the node's shared port does. */
async function serve(direct: Handler): Promise<{ address: string; connections: () => number; close: () => void }> {
  const frames = new FrameServer();
  frames.addService(tolerantDefinition(PeerService), { direct });
  let connections = 0;
  const listener = net.createServer((socket) => {
    connections++;
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < FRAME_MAGIC.length) return;
      socket.off('data', onData);
      frames.accept(socket, head.subarray(FRAME_MAGIC.length));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => listener.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = listener.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      frames.close();
      listener.close();
    },
  };
}

const request = (payload: Buffer, app = 'test'): DirectRequest => ({ sender: { id: Buffer.alloc(16, 1), address: '127.0.0.1:1', name: 'a' }, app, payload });

describe('the framed peer transport', () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((c) => c()));

  it('carries the request, metadata, deadline, response and trailers of a call', async () => {
    let seen: { app: string; md: string | undefined; bin: Buffer | undefined; deadlineIn: number } | undefined;
    const server = await serve((call, callback) => {
      seen = { app: call.request.app, md: call.metadata.get('x-pastry-target')[0] as string, bin: call.metadata.get('x-hop-bin')[0] as Buffer, deadlineIn: (call.getDeadline() as Date).getTime() - Date.now() };
      const trailers = new Metadata();
      trailers.set('x-pastry-hops', 'h1');
      callback(null, { payload: Buffer.concat([call.request.payload, Buffer.from('!')]) }, trailers);
    });
    closers.push(server.close);
    const channel = new FrameChannel(server.address);
    closers.push(() => channel.close());
    const md = new Metadata();
    md.set('x-pastry-target', 'abc');
    md.set('x-hop-bin', Buffer.from([0, 255, 7]));
    let observed: [number, string | undefined] | undefined;
    const res = await frameCall<DirectResponse>(channel, codec, request(Buffer.from('hi')), md, Date.now() + 2000, (code, trailers) => (observed = [code, trailers.get('x-pastry-hops')[0] as string]));
    expect(Buffer.from(res.payload).toString()).toBe('hi!');
    expect(seen).toMatchObject({ app: 'test', md: 'abc', bin: Buffer.from([0, 255, 7]) });
    expect(seen!.deadlineIn).toBeGreaterThan(1500);
    expect(seen!.deadlineIn).toBeLessThanOrEqual(2000);
    expect(observed).toEqual([status.OK, 'h1']);
  });

  it('an error answer is a ServiceError with its code, details and trailers', async () => {
    const server = await serve((_call, callback) => {
      const metadata = new Metadata();
      metadata.set('x-pastry-refused', '1');
      callback({ code: status.NOT_FOUND, details: 'no such thing', metadata });
    });
    closers.push(server.close);
    const channel = new FrameChannel(server.address);
    closers.push(() => channel.close());
    const error = (await frameCall(channel, codec, request(Buffer.alloc(0)), undefined, Date.now() + 2000).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe('no such thing');
    expect(error.metadata.get('x-pastry-refused')).toEqual(['1']);
  });

  it('an undecodable request reaches the handler as malformed, and an unknown method is UNIMPLEMENTED', async () => {
    const server = await serve((call, callback) => callback(null, { payload: Buffer.from(String((call.request as unknown as { reason?: string }).reason ?? 'decoded')) }));
    closers.push(server.close);
    const channel = new FrameChannel(server.address);
    closers.push(() => channel.close());
    const bad = await channel.call(codec.path, Buffer.from([0xff, 0xff, 0xff]), undefined, Date.now() + 2000);
    expect(bad.code).toBe(status.OK);
    expect(PeerService.direct.responseDeserialize(bad.payload).payload.toString()).not.toBe('decoded');
    const unknown = await channel.call('/pastry.v1.Peer/Nope', Buffer.alloc(0), undefined, Date.now() + 2000);
    expect(unknown.code).toBe(status.UNIMPLEMENTED);
  });

  it('1,000 calls at once and a 900 KiB payload all come back, each to its own caller', async () => {
    const server = await serve((call, callback) => setImmediate(() => callback(null, { payload: call.request.payload })));
    closers.push(server.close);
    const channel = new FrameChannel(server.address);
    closers.push(() => channel.close());
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => frameCall<DirectResponse>(channel, codec, request(Buffer.from(String(i))), undefined, Date.now() + 10_000)));
    results.forEach((r, i) => expect(Buffer.from(r.payload).toString()).toBe(String(i)));
    const big = Buffer.alloc(900 * 1024, 3);
    const echoed = await frameCall<DirectResponse>(channel, codec, request(big), undefined, Date.now() + 10_000);
    expect(Buffer.from(echoed.payload).equals(big)).toBe(true);
    expect(server.connections()).toBe(1);
  });

  it('a call nobody answers ends DEADLINE_EXCEEDED on time, and the silent connection is replaced', async () => {
    let answer = false;
    const server = await serve((call, callback) => {
      if (answer) callback(null, { payload: call.request.payload });
    });
    closers.push(server.close);
    const channel = new FrameChannel(server.address);
    closers.push(() => channel.close());
    const t0 = Date.now();
    const error = (await frameCall(channel, codec, request(Buffer.from('x')), undefined, Date.now() + 200).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(195);
    expect(Date.now() - t0).toBeLessThan(1000);
    answer = true;
    const res = await frameCall<DirectResponse>(channel, codec, request(Buffer.from('y')), undefined, Date.now() + 2000);
    expect(Buffer.from(res.payload).toString()).toBe('y');
    expect(server.connections()).toBe(2);
  });

  it('a port nobody listens on is UNAVAILABLE at once', async () => {
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = free.address() as net.AddressInfo;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const channel = new FrameChannel(`127.0.0.1:${port}`);
    closers.push(() => channel.close());
    const t0 = Date.now();
    const error = (await frameCall(channel, codec, request(Buffer.alloc(0)), undefined, Date.now() + 5000).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(channel.usable).toBe(false);
  });

  it('a peer that speaks only gRPC (an older node) is called over gRPC instead, the first call included', async () => {
    const server = new Server();
    const served: string[] = [];
    server.addService(tolerantDefinition(PeerService), {
      direct: ((call, callback) => {
        served.push(call.request.app);
        callback(null, { payload: call.request.payload });
      }) as Handler,
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    closers.push(() => server.forceShutdown());
    const pool = new PeerPool(undefined, true);
    closers.push(() => pool.close());
    const address = `127.0.0.1:${port}`;
    const first = await pool.call(address, 'direct', request(Buffer.from('one'), 'a'), { deadline: Date.now() + 5000 });
    const second = await pool.call(address, 'direct', request(Buffer.from('two'), 'b'), { deadline: Date.now() + 5000 });
    expect(Buffer.from(first.payload).toString()).toBe('one');
    expect(Buffer.from(second.payload).toString()).toBe('two');
    // Each served once: the framed attempt reached no handler.
    expect(served).toEqual(['a', 'b']);
  });
});

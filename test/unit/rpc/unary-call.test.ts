import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { DhtClient, DhtService, type StatusResponse } from '../../../services/node/src/gen/pastry/v1/dht';
import { unaryCall, type CallObserver } from '../../../services/node/src/rpc/unary-call';

const answer: StatusResponse = { self: undefined, ready: true, leafSetLeft: [], leafSetRight: [], routingTable: undefined, neighborhoodSet: [], estimatedRingSize: 7, objectsStored: 0, liveObjects: 0, liveBytes: 0 };

describe('unaryCall', () => {
  let server: Server;
  let client: DhtClient;
  let stall = false;

  beforeAll(async () => {
    server = new Server();
    const impl: UntypedServiceImplementation = {
      status: (call: { metadata: Metadata; sendMetadata(m: Metadata): void }, cb: (e: Partial<ServiceError> | null, r?: StatusResponse, trailers?: Metadata) => void) => {
        if (stall) return; // never answers: the caller's deadline or abort ends the call
        const trailers = new Metadata();
        trailers.set('echo', String(call.metadata.get('x-test')[0] ?? ''));
        cb(null, answer, trailers);
      },
      get: (_call: unknown, cb: (e: Partial<ServiceError>) => void) => cb({ code: status.NOT_FOUND, details: 'no object' }),
    };
    server.addService(DhtService, impl);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new DhtClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterEach(() => {
    stall = false;
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it('resolves with the response, sends the metadata and lets the observer see status and trailers first', async () => {
    const metadata = new Metadata();
    metadata.set('x-test', 'hello');
    const seen: string[] = [];
    const observe = (md: Metadata | undefined): CallObserver => {
      seen.push(`start ${md?.get('x-test')[0]}`);
      return { metadata: md!, end: (code, trailers) => seen.push(`end ${code} ${trailers?.get('echo')[0]}`) };
    };
    const res = await unaryCall(client.status.bind(client), {}, { deadline: Date.now() + 5000, metadata, observe }).then((r) => {
      seen.push('resolved');
      return r;
    });
    expect(res.estimatedRingSize).toBe(7);
    expect(seen).toEqual(['start hello', 'end 0 hello', 'resolved']);
  });

  it('rejects with the grpc ServiceError of the answer', async () => {
    const codes: number[] = [];
    const err = await unaryCall(client.get.bind(client), { key: undefined }, { deadline: Date.now() + 5000, observe: (md) => ({ metadata: md ?? new Metadata(), end: (c) => codes.push(c) }) }).catch((e: ServiceError) => e);
    expect(err).toMatchObject({ code: status.NOT_FOUND, details: 'no object' });
    expect((err as ServiceError).metadata).toBeInstanceOf(Metadata);
    expect(codes).toEqual([status.NOT_FOUND]);
  });

  it('ends at the absolute deadline with DEADLINE_EXCEEDED', async () => {
    stall = true;
    const t0 = Date.now();
    await expect(unaryCall(client.status.bind(client), {}, { deadline: t0 + 200 })).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('is cancelled by its AbortSignal, before or during the call', async () => {
    stall = true;
    const before = new AbortController();
    before.abort();
    let started = false;
    await expect(unaryCall(client.status.bind(client), {}, { deadline: Date.now() + 5000, signal: before.signal, observe: (md) => ((started = true), { metadata: md ?? new Metadata(), end: () => undefined }) })).rejects.toMatchObject({ code: status.CANCELLED });
    expect(started).toBe(false);
    const during = new AbortController();
    const pending = unaryCall(client.status.bind(client), {}, { deadline: Date.now() + 5000, signal: during.signal });
    setTimeout(() => during.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: status.CANCELLED });
  });
});

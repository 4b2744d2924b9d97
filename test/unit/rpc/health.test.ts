import { credentials, makeGenericClientConstructor, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { HEALTH_SERVICE, HealthService } from '../../../services/node/src/rpc/health';

/** The status number of a HealthCheckResponse (field 1, varint). */
function statusOf(bytes: Buffer): number {
  const reader = new BinaryReader(bytes);
  let s = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 8) s = reader.int32();
    else reader.skip(tag & 7);
  }
  return s;
}

describe('the gRPC health service (grpc.health.v1.Health, hand-written codec)', () => {
  const health = new HealthService({ '': 'NOT_SERVING', liveness: 'SERVING' });
  const server = new Server();
  health.addToServer(server);
  const Client = makeGenericClientConstructor(HEALTH_SERVICE, 'Health');
  let client: InstanceType<typeof Client>;
  const check = (service: string): Promise<number> =>
    new Promise((resolve, reject) =>
      (client as unknown as { Check: (r: object, cb: (e: ServiceError | null, b: Buffer) => void) => void }).Check({ service }, (e, b) => (e ? reject(e) : resolve(statusOf(b)))),
    );

  beforeAll(async () => {
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it('Check answers the status of a known service and NOT_FOUND for another', async () => {
    expect(await check('')).toBe(2);
    expect(await check('liveness')).toBe(1);
    health.setStatus('', 'SERVING');
    expect(await check('')).toBe(1);
    await expect(check('no.such.Service')).rejects.toMatchObject({ code: status.NOT_FOUND, details: 'Health status unknown for service no.such.Service' });
  });

  it('Watch sends the status at once and every change after it; SERVICE_UNKNOWN for an unknown service', async () => {
    health.setStatus('', 'SERVING');
    const watch = (service: string) => (client as unknown as { Watch: (r: object) => NodeJS.ReadableStream & { cancel(): void } }).Watch({ service });
    const seen: number[] = [];
    const stream = watch('');
    stream.on('error', () => undefined);
    await new Promise<void>((resolve) =>
      stream.on('data', (b: Buffer) => {
        seen.push(statusOf(b));
        if (seen.length === 1) health.setStatus('', 'NOT_SERVING');
        if (seen.length === 2) resolve();
      }),
    );
    stream.cancel();
    expect(seen).toEqual([1, 2]);

    const unknown = watch('other');
    unknown.on('error', () => undefined);
    const first = await new Promise<number>((resolve) => unknown.once('data', (b: Buffer) => resolve(statusOf(b))));
    unknown.cancel();
    expect(first).toBe(3);
  });
});

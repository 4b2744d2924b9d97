import { execFileSync } from 'node:child_process';
import { startRing, type TestRing } from '../helpers/local-ring';
import { findTool } from '../helpers/tools';

jest.setTimeout(120_000);

describe('grpcurl against a node (reflection, health, Put, Get)', () => {
  let ring: TestRing;
  let grpcurl: string;
  let target: string;
  const run = (...args: string[]): string => execFileSync(grpcurl, ['-plaintext', ...args], { encoding: 'utf8', timeout: 20_000 });

  beforeAll(async () => {
    grpcurl = findTool('grpcurl');
    ring = await startRing(4, '127.0.13');
    target = ring.state().pods[1]!.address;
  });

  afterAll(async () => {
    await ring?.down();
  });

  it('lists the services through server reflection', () => {
    const services = run(target, 'list').trim().split('\n');
    expect(services).toEqual(expect.arrayContaining(['pastry.v1.Dht', 'pastry.v1.Files', 'pastry.v1.Peer', 'grpc.health.v1.Health']));
    expect(run(target, 'describe', 'pastry.v1.Dht')).toMatch(/rpc Route/);
    expect(run(target, 'describe', 'pastry.v1.Files')).toMatch(/rpc Download \( \.pastry\.v1\.DownloadRequest \) returns \( stream \.pastry\.v1\.DownloadResponse \)/);
  });

  it('reports SERVING on the standard health service once joined', () => {
    expect(JSON.parse(run(target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"liveness"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"pastry.v1.Files"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
  });

  it('performs a Put, then a Get', () => {
    const value = Buffer.from('hello from grpcurl');
    const put = JSON.parse(run('-d', JSON.stringify({ name: 'grpcurl-key', value: value.toString('base64') }), target, 'pastry.v1.Dht/Put'));
    expect(Buffer.from(put.guid, 'base64')).toHaveLength(16);
    const other = ring.state().pods[3]!.address;
    const got = JSON.parse(run('-d', JSON.stringify({ key: { name: 'grpcurl-key' } }), other, 'pastry.v1.Dht/Get'));
    expect(Buffer.from(got.value, 'base64').toString()).toBe(value.toString());
    expect(got.guid).toBe(put.guid);
  });

  it('uploads a file as a stream of messages, then streams it back from another node', () => {
    const part = (n: number): Buffer => Buffer.alloc(20_000, n);
    const messages = [JSON.stringify({ chunkSize: 16384, data: part(1).toString('base64') }), JSON.stringify({ data: part(2).toString('base64') })].join('\n');
    const up = JSON.parse(run('-d', messages, target, 'pastry.v1.Files/Upload'));
    expect(up).toMatchObject({ size: '40000', chunks: 3, chunkSize: 16384 });
    const other = ring.state().pods[2]!.address;
    const stat = JSON.parse(run('-d', JSON.stringify({ guid: up.guid }), other, 'pastry.v1.Files/Stat'));
    expect(stat).toMatchObject({ size: '40000', chunks: 3, chunkSize: 16384 });
    // One JSON object per streamed message.
    const out = run('-d', JSON.stringify({ guid: up.guid }), other, 'pastry.v1.Files/Download');
    const pieces = out.split(/\n(?=\{)/).map((m) => JSON.parse(m) as { data: string });
    expect(Buffer.concat(pieces.map((p) => Buffer.from(p.data, 'base64'))).equals(Buffer.concat([part(1), part(2)]))).toBe(true);
  });
});

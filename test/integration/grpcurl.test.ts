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
    expect(services).toEqual(expect.arrayContaining(['pastry.v1.Dht', 'pastry.v1.Peer', 'grpc.health.v1.Health']));
    expect(run(target, 'describe', 'pastry.v1.Dht')).toMatch(/rpc Route/);
  });

  it('reports SERVING on the standard health service once joined', () => {
    expect(JSON.parse(run(target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
    expect(JSON.parse(run('-d', '{"service":"liveness"}', target, 'grpc.health.v1.Health/Check')).status).toBe('SERVING');
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
});

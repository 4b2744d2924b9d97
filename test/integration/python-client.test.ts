import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../..');
const SUBNET = '127.0.46';
/** Debian's python3-grpcio and python3-grpc-tools install for the system interpreter. */
const PYTHON = '/usr/bin/python3';
const CLIENT = path.join(ROOT, 'test/python/messaging_client.py');
const COUNT = 3;

interface Report {
  published: Array<{ sequence: number; id: string; payload: string }>;
  events: Array<{ subscribed?: { topic: string; sequence: number; oldest_retained: number }; message?: { topic: string; id: string; sequence: number; publisher: string; payload: string; anycast: boolean }; gap?: { first: number; last: number } }>;
  invalid: { code: string; details?: string };
  dht: { put_guid: string; get_guid: string; value: string; expected: string };
}

describe('a Python client generated from proto/ with grpcio-tools (Messaging and Dht)', () => {
  let ring: TestRing | undefined;
  let out: string;

  beforeAll(async () => {
    // Missing tools fail the suite: make test-deps (test/setup/ensure-test-tools.sh) installs them.
    const probe = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`${PYTHON} cannot import grpc and grpc_tools (${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()}): run \`make test-deps\` (apt-get install python3-grpcio python3-grpc-tools)`);
    out = mkdtempSync(path.join(os.tmpdir(), 'pastry-python-'));
    ring = await startRing(3, SUBNET);
  });

  afterAll(async () => {
    await ring?.down();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('generates the stubs for every proto file of pastry.v1', () => {
    const protos = readdirSync(path.join(ROOT, 'proto/pastry/v1'))
      .filter((f) => f.endsWith('.proto'))
      .map((f) => `proto/pastry/v1/${f}`);
    expect(protos).toEqual(expect.arrayContaining(['proto/pastry/v1/messaging.proto', 'proto/pastry/v1/dht.proto']));
    execFileSync(PYTHON, ['-m', 'grpc_tools.protoc', '-Iproto', `--python_out=${out}`, `--grpc_python_out=${out}`, ...protos], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const generated = readdirSync(path.join(out, 'pastry/v1'));
    expect(generated).toEqual(expect.arrayContaining(['messaging_pb2.py', 'messaging_pb2_grpc.py', 'dht_pb2.py', 'dht_pb2_grpc.py', 'common_pb2.py']));
  });

  it(`publishes ${COUNT} messages, reads exactly them from sequence 1 through another node, and puts and gets an object`, () => {
    const pods = ring!.state().pods;
    const topic = `python-topic-${randomBytes(4).toString('hex')}`;
    const key = `python-key-${randomBytes(4).toString('hex')}`;
    const args = [CLIENT, '--target', pods[0]!.address, '--other', pods[2]!.address, '--topic', topic, '--key', key, '--count', String(COUNT), '--publisher', 'python-test'];
    const run = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: 90_000, env: { ...process.env, PYTHONPATH: out } });
    expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 0 });
    const report = JSON.parse(run.stdout) as Report;

    const payloads = Array.from({ length: COUNT }, (_, i) => `message ${i + 1} from python`);
    expect(report.published.map((p) => [p.sequence, p.payload])).toEqual(payloads.map((p, i) => [i + 1, p]));
    for (const p of report.published) expect(p.id).toMatch(/^[0-9a-f]{32}$/);

    expect(report.events[0]).toEqual({ subscribed: { topic, sequence: COUNT, oldest_retained: 1 } });
    const messages = report.events.slice(1);
    expect(messages).toEqual(
      report.published.map((p) => ({ message: { topic, id: p.id, sequence: p.sequence, publisher: 'python-test', payload: p.payload, anycast: false } })),
    );

    expect(report.invalid).toEqual({ code: 'INVALID_ARGUMENT', details: 'topic is empty' });
    expect(report.dht.put_guid).toMatch(/^[0-9a-f]{32}$/);
    expect(report.dht.get_guid).toBe(report.dht.put_guid);
    expect(report.dht.value).toBe(report.dht.expected);
  });
});

import { execFile } from 'node:child_process';
import { credentials, Metadata } from '@grpc/grpc-js';
import { idFromBytes } from '../../services/node/src/core/id';
import { DhtClient, type GetResponse } from '../../services/node/src/gen/pastry/v1/dht';
import { PastryClient, keyFor } from '../../services/cli/src/client';
import { newTraceparent } from '../../services/cli/src/trace-route';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { startRing, type TestRing } from '../helpers/local-ring';
import { CLI } from '../helpers/tools';

jest.setTimeout(120_000);

const SUBNET = '127.0.16';
/** With |L| = 2 (and so at most 2 replicas) the leaf set covers little of the ring: some routes need 2+ hops. */
const NODES = 16;
const HOP_REASONS = ['routing_table', 'leaf_set', 'rare_case', 'deliver'];

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A Get that carries the given metadata (a traceparent). */
function getWithMetadata(address: string, name: string, metadata: Metadata): Promise<GetResponse> {
  const client = new DhtClient(address, credentials.createInsecure());
  return new Promise<GetResponse>((resolve, reject) => {
    client.get({ key: keyFor(name) }, metadata, { deadline: new Date(Date.now() + 5000) }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

function hopSpans(spans: ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter((s) => s.name === 'pastry.route.hop').sort((a, b) => Number(a.attributes['pastry.hop.index']) - Number(b.attributes['pastry.hop.index']));
}

/** A key that a Get entering at `client` reaches in at least 2 hops, with the Get's trace. */
interface MultiHop {
  entry: { id: string; address: string };
  name: string;
  hops: string[];
  traceId: string;
  rootSpanId: string;
}

describe('tracing: one trace per operation, one span per hop', () => {
  const receiver = new OtlpReceiver();
  let ring: TestRing;
  let found: MultiHop;

  beforeAll(async () => {
    const endpoint = await receiver.start();
    ring = await startRing(NODES, SUBNET, {
      PASTRY_LEAF_SET_SIZE: '2',
      PASTRY_REPLICAS: '2',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    found = await findMultiHopGet(ring);
  });

  afterAll(async () => {
    await ring?.down();
    await receiver.stop();
  });

  /** Routes keys from every pod until a Get takes 2+ hops; that Get runs under a known trace id. */
  async function findMultiHopGet(r: TestRing): Promise<MultiHop> {
    const pods = r.state().pods;
    for (let i = 0; i < 400; i++) {
      const pod = pods[i % pods.length]!;
      const client = new PastryClient(pod.address, 5000);
      try {
        const name = `trace-key-${i}`;
        const route = await client.route(name);
        if (route.hops.length < 2) continue;
        await client.put(name, Buffer.from(`value of ${name}`));
        const { traceparent, traceId, spanId } = newTraceparent();
        const metadata = new Metadata();
        metadata.set('traceparent', traceparent);
        const get = await getWithMetadata(pod.address, name, metadata);
        if (get.hops.length < 2) continue;
        return { entry: { id: pod.id, address: pod.address }, name, hops: get.hops.map((h) => idFromBytes(h.id)), traceId, rootSpanId: spanId };
      } finally {
        client.close();
      }
    }
    throw new Error('no key took 2 or more hops');
  }

  it('a Get over 2+ hops is one trace: a hop span per node, each the child of the previous, in hop order', async () => {
    const expected = 1 + found.hops.length;
    const spans = await waitFor('every hop span', 15_000, () => {
      const hops = hopSpans(receiver.trace(found.traceId));
      return hops.length >= expected ? hops : undefined;
    });
    expect(found.hops.length).toBeGreaterThanOrEqual(2);
    expect(spans).toHaveLength(expected);
    expect(new Set(receiver.trace(found.traceId).map((s) => s.traceId))).toEqual(new Set([found.traceId]));
    const nodes = [found.entry.id, ...found.hops];
    spans.forEach((span, i) => {
      expect(span.attributes['pastry.hop.index']).toBe(i);
      expect(span.attributes['pastry.node.id']).toBe(nodes[i]);
      expect(span.parentSpanId).toBe(i === 0 ? found.rootSpanId : spans[i - 1]!.spanId);
      expect(HOP_REASONS).toContain(span.attributes['pastry.hop.reason']);
      expect(typeof span.attributes['pastry.prefix.length']).toBe('number');
      expect(span.resource['pastry.node.id']).toBe(nodes[i]);
      if (i > 0) expect(span.startNs).toBeGreaterThanOrEqual(spans[i - 1]!.startNs);
    });
    expect(spans.slice(0, -1).map((s) => s.attributes['pastry.hop.reason'])).not.toContain('deliver');
    expect(spans[spans.length - 1]!.attributes['pastry.hop.reason']).toBe('deliver');
    expect(spans[0]!.attributes['pastry.operation']).toBe('get');
  });

  it('the store read at the root is a child span of the root\'s hop span', async () => {
    const last = hopSpans(receiver.trace(found.traceId)).pop()!;
    const read = await waitFor('the store span', 10_000, () => receiver.trace(found.traceId).find((s) => s.name === 'pastry.store.get' && s.parentSpanId === last.spanId));
    expect(read.attributes['pastry.store.kind']).toBe('memory');
  });

  it('a Put\'s replication fan-out is a child of the root\'s hop span', async () => {
    const { traceparent, traceId } = newTraceparent();
    const metadata = new Metadata();
    metadata.set('traceparent', traceparent);
    const client = new DhtClient(found.entry.address, credentials.createInsecure());
    await new Promise<void>((resolve, reject) =>
      client.put({ name: found.name, value: Buffer.from('traced write') }, metadata, { deadline: new Date(Date.now() + 5000) }, (err) => {
        client.close();
        if (err) reject(err);
        else resolve();
      }),
    );
    const fanOut = await waitFor('a replication span', 15_000, () => {
      const spans = receiver.trace(traceId);
      const root = hopSpans(spans).pop();
      const children = spans.filter((s) => root && s.parentSpanId === root.spanId && s.name.startsWith('pastry.v1.Peer/'));
      return root?.attributes['pastry.hop.reason'] === 'deliver' && children.length > 0 ? children : undefined;
    });
    for (const span of fanOut) expect(span.resource['pastry.node.id']).not.toBe(hopSpans(receiver.trace(traceId)).pop()!.attributes['pastry.node.id']);
  });

  it('pastry route --trace prints the hop path with per-hop timing under a recorded trace id', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [CLI, 'route', found.name, '--trace', '--json', '--target', found.entry.address], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    const r = JSON.parse(out) as { traceId: string; recorded: boolean; hops: { id: string; index: number; elapsedMs: number; hopMs: number; reason: string }[] };
    expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(r.recorded).toBe(true);
    expect(r.hops.map((h) => h.index)).toEqual(r.hops.map((_, i) => i));
    expect(r.hops[0]!.id).toBe(found.entry.id);
    expect(r.hops.length).toBeGreaterThanOrEqual(3);
    expect(r.hops[r.hops.length - 1]!.reason).toBe('deliver');
    for (const [i, h] of r.hops.entries()) {
      expect(h.elapsedMs).toBeGreaterThan(0);
      expect(h.hopMs).toBeGreaterThanOrEqual(0);
      if (i > 0) expect(h.elapsedMs).toBeLessThanOrEqual(r.hops[i - 1]!.elapsedMs);
    }
    const spans = await waitFor('the route\'s hop spans', 15_000, () => {
      const hops = hopSpans(receiver.trace(r.traceId));
      return hops.length >= r.hops.length ? hops : undefined;
    });
    expect(spans.map((s) => s.attributes['pastry.node.id'])).toEqual(r.hops.map((h) => h.id));
  });
});

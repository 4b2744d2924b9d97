import { status } from '@grpc/grpc-js';
import { PastryClient } from '../../services/cli/src/client';
import { guidForName, sha256 } from '../../services/node/src/dht/guid';
import type { ObjectMeta, StoreReplicasResponse } from '../../services/node/src/gen/pastry/v1/dht_peer';
import { dhtPeerCall, listObjects } from '../../services/cli/src/dht-peer';
import { startRing, type TestRing } from '../helpers/local-ring';
import { closest, eventually } from '../helpers/replicas';

jest.setTimeout(180_000);

const K = 3;
const HOUR_MS = 3_600_000;

type Pod = { address: string; id: string; name: string };

/** Writes a copy straight into a node's store, as a root whose clock ran `aheadMs` fast would have. */
function plant(pod: Pod, guid: string, value: string, version: number, writer: string, tombstone = false): Promise<StoreReplicasResponse> {
  const bytes = Buffer.from(tombstone ? '' : value);
  const record = {
    guid: Buffer.from(guid, 'hex'),
    value: bytes,
    version,
    writer: Buffer.from(writer, 'hex'),
    hash: sha256(bytes).toString('hex'),
    size: bytes.length,
    createdAtMs: Date.now(),
    tombstone,
    contentAddressed: false,
    redirect: Buffer.alloc(0),
    divertedFrom: Buffer.alloc(0),
  };
  return dhtPeerCall(pod.address, 'storeReplicas', { sender: undefined, objects: [record], diverted: false, senderKeeps: false, senderLeavingMs: 0 });
}

/** The copy of `guid` a node holds, tombstones included. */
async function copyOn(pod: Pod, guid: string): Promise<ObjectMeta | undefined> {
  const res = await listObjects(pod.address, true);
  return res.objects.find((o) => o.guid.toString('hex') === guid);
}

describe('versions on a 6-node ring', () => {
  let ring: TestRing;
  let pods: Pod[];
  let client: PastryClient;
  const replicasOf = (guid: string) => closest(pods.map((p) => p.id), guid, K).map((id) => pods.find((p) => p.id === id)!);

  beforeAll(async () => {
    // Anti-entropy is slowed down so that only the write path moves versions in these tests.
    ring = await startRing(6, '127.0.22', { PASTRY_ANTIENTROPY_INTERVAL_MS: '600000' });
    pods = ring.state().pods;
    client = new PastryClient(pods[0]!.address, 15_000);
  });

  afterAll(async () => {
    client?.close();
    await ring?.down();
  });

  // The root's own copy stays old, as on a root that joined since: only the replicas report
  // the newer version, and the root must write above it.
  it('a put wins over copies written by a root whose clock ran an hour ahead', async () => {
    const name = 'skewed-put';
    const guid = guidForName(name);
    await client.put(name, Buffer.from('first'));
    const ahead = Date.now() + HOUR_MS;
    const [, ...others] = replicasOf(guid);
    for (const pod of others) expect((await plant(pod, guid, 'from-the-future', ahead, 'f'.repeat(32))).applied).toBe(1);

    const res = await client.put(name, Buffer.from('latest'));
    expect(res.replicasAcknowledged).toBeGreaterThanOrEqual(2);
    expect(Number(res.version)).toBeGreaterThan(ahead);
    const copies = await Promise.all(replicasOf(guid).map((p) => copyOn(p, guid)));
    const latest = copies.filter((c) => c && Number(c.version) === Number(res.version) && c.hash === sha256('latest').toString('hex'));
    expect(latest.length).toBeGreaterThanOrEqual(2);
    for (const pod of pods) {
      const c = new PastryClient(pod.address, 15_000);
      try {
        expect((await c.get(name)).value.toString()).toBe('latest');
      } finally {
        c.close();
      }
    }
  });

  it('a remove wins over copies written by a root whose clock ran ahead', async () => {
    const name = 'skewed-remove';
    const guid = guidForName(name);
    await client.put(name, Buffer.from('doomed'));
    const ahead = Date.now() + 2 * HOUR_MS;
    const [, ...others] = replicasOf(guid);
    for (const pod of others) await plant(pod, guid, 'still-here', ahead, 'e'.repeat(32));
    expect((await client.remove(name)).removed).toBe(true);
    const copies = await Promise.all(replicasOf(guid).map((p) => copyOn(p, guid)));
    expect(copies.filter((c) => c?.tombstone && Number(c.version) > ahead).length).toBeGreaterThanOrEqual(2);
    for (const pod of pods) {
      const c = new PastryClient(pod.address, 15_000);
      try {
        await expect(c.get(name)).rejects.toMatchObject({ code: status.NOT_FOUND });
      } finally {
        c.close();
      }
    }
  });

  it('a replica answers which of its copies are newer than the ones sent', async () => {
    const guid = guidForName('newer-report');
    const pod = pods[1]!;
    await plant(pod, guid, 'v-high', 5_000, 'a'.repeat(32));
    const res = await plant(pod, guid, 'v-low', 4_000, 'b'.repeat(32));
    expect(res.stale).toBe(1);
    expect(res.newer.map((m) => [m.guid.toString('hex'), Number(m.version)])).toEqual([[guid, 5_000]]);
    const same = await plant(pod, guid, 'v-high', 5_000, 'a'.repeat(32));
    expect(same.stale).toBe(1);
    expect(same.newer).toEqual([]);
  });

  it('concurrent puts through one root get distinct versions and leave the replicas identical', async () => {
    const name = 'contended';
    const guid = guidForName(name);
    const root = pods.find((p) => p.id === replicasOf(guid)[0]!.id)!;
    const atRoot = new PastryClient(root.address, 15_000);
    try {
      const results = await Promise.all(Array.from({ length: 32 }, (_, i) => atRoot.put(name, Buffer.from(`writer-${i}`))));
      const versions = results.map((r) => Number(r.version));
      expect(new Set(versions).size).toBe(versions.length);
      const newest = Math.max(...versions);
      const winner = `writer-${versions.indexOf(newest)}`;
      expect((await atRoot.get(name)).value.toString()).toBe(winner);
      // The put resolved at a quorum; the last replica's write may still be in flight.
      const want = `${newest} ${sha256(winner).toString('hex')}`;
      const { value: copies } = await eventually(
        () => Promise.all(replicasOf(guid).map(async (p) => copyOn(p, guid))).then((cs) => cs.map((c) => (c ? `${Number(c.version)} ${c.hash}` : 'none'))),
        (cs) => cs.every((c) => c === want),
        10_000,
        200,
      );
      expect(copies).toEqual([want, want, want]);
    } finally {
      atRoot.close();
    }
  });
});

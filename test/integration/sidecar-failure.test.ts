import { execFileSync } from 'node:child_process';
import Redis from 'ioredis';
import { status } from '@grpc/grpc-js';
import { PastryClient } from '../../services/cli/src/client';
import { restartSidecar, signalSidecar } from '../../services/cli/src/cluster';
import { guidForName } from '../../services/node/src/dht/guid';
import { redisLocation, unpackRedisRecord } from '../../services/node/src/store/redis-store';
import { packObject } from '../../services/node/src/store/record';
import { startRing, type TestRing } from '../helpers/local-ring';
import { closest, eventually, holders } from '../helpers/replicas';
import { findTool } from '../helpers/tools';

jest.setTimeout(180_000);

describe('a failing Redis sidecar', () => {
  let ring: TestRing;

  beforeAll(async () => {
    ring = await startRing(6, '127.0.19', { PASTRY_STORE: 'redis', PASTRY_ANTIENTROPY_INTERVAL_MS: '1000', PASTRY_MAX_VALUE_BYTES: '4096' });
  });

  afterAll(async () => {
    await ring?.down();
  });

  const health = (address: string): string => {
    try {
      return JSON.parse(execFileSync(findTool('grpcurl'), ['-plaintext', address, 'grpc.health.v1.Health/Check'], { encoding: 'utf8', timeout: 10_000 })).status;
    } catch (error) {
      return String((error as { stdout?: string }).stdout ?? error);
    }
  };

  it('turns the node not-ready, the other replicas serve, and it recovers by itself', async () => {
    const pods = ring.state().pods;
    const ids = pods.map((p) => p.id);
    const names = Array.from({ length: 60 }, (_, i) => `sidecar-${i}`);
    const entry = new PastryClient(pods[0]!.address);
    try {
      for (const n of names) await entry.put(n, Buffer.from(`v-${n}`));
      // The pod whose Redis fails is a replica of some of these objects.
      const victim = pods.find((p) => names.some((n) => closest(ids, guidForName(n), 3)[0] === p.id) && p.name !== 'pastry-0')!;
      signalSidecar(ring.options.runDir, victim.name, 'SIGKILL');
      const { value: notServing } = await eventually(async () => health(victim.address), (s) => s !== 'SERVING', 10_000, 200);
      expect(notServing).toMatch(/NOT_SERVING/);
      // Every object stays readable and writable, also through the victim itself.
      const throughVictim = new PastryClient(victim.address);
      try {
        for (const n of names) {
          expect((await throughVictim.get(n)).value.toString()).toBe(`v-${n}`);
          expect((await entry.get(n)).value.toString()).toBe(`v-${n}`);
        }
        const put = await throughVictim.put('written-while-down', Buffer.from('ok'));
        expect(put.replicasAcknowledged).toBeGreaterThanOrEqual(2);
      } finally {
        throughVictim.close();
      }
      // Back, empty as a restarted container without persistence: ready again and refilled.
      restartSidecar(ring.options.runDir, victim.name);
      const { value: serving } = await eventually(async () => health(victim.address), (s) => s === 'SERVING', 20_000, 200);
      expect(serving).toBe('SERVING');
      const guids = [...names, 'written-while-down'].map(guidForName).filter((g) => closest(ids, g, 3).includes(victim.id));
      expect(guids.length).toBeGreaterThan(0);
      const { value: held } = await eventually(
        async () => (await holders([victim])),
        (h) => guids.every((g) => h.has(g)),
        30_000,
      );
      expect(guids.filter((g) => !held.has(g))).toEqual([]);
    } finally {
      entry.close();
    }
  });

  it('a corrupted replica is detected by its hash and repaired from another replica', async () => {
    const pods = ring.state().pods;
    const ids = pods.map((p) => p.id);
    const entry = new PastryClient(pods[1]!.address);
    try {
      const put = await entry.put('', Buffer.from('immutable content'));
      const guid = put.guid.toString('hex');
      const root = pods.find((p) => p.id === closest(ids, guid, 1)[0])!;
      const redis = new Redis(`redis://${root.redis!.address}`);
      try {
        const { key, field } = redisLocation(guid);
        const stored = unpackRedisRecord(guid, (await redis.hgetBuffer(key, field))!).object;
        await redis.hset(key, field, packObject({ ...stored, value: Buffer.from('tampered bytes') }));
        // Through every pod: none answers the tampered bytes, and the root's own read meets them.
        for (const pod of pods) {
          const client = new PastryClient(pod.address);
          try {
            expect((await client.get(guid)).value.toString()).toBe('immutable content');
          } finally {
            client.close();
          }
        }
        const readBack = async (): Promise<string | undefined> => {
          const record = await redis.hgetBuffer(key, field);
          return record ? unpackRedisRecord(guid, record).object.value.toString() : undefined;
        };
        const { value: repaired } = await eventually(readBack, (v) => v === 'immutable content', 15_000);
        expect(repaired).toBe('immutable content');
      } finally {
        redis.disconnect();
      }
    } finally {
      entry.close();
    }
  });

  it('bad input: oversized put and a wrong-length GUID get clear errors and lose nothing', async () => {
    const c = new PastryClient(ring.state().pods[2]!.address);
    try {
      await c.put('keep-me', Buffer.from('safe'));
      await expect(c.put('too-big', Buffer.alloc(5000))).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      await expect(c.get('abcd'.repeat(7))).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect((await c.get('keep-me')).value.toString()).toBe('safe');
    } finally {
      c.close();
    }
  });
});

import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { DhtService, PutResponse, type PutRequest } from '../../../services/node/src/gen/pastry/v1/dht';
import { Workload } from '../../../services/cli/src/chaos/workload';

/** An in-process Dht server whose Put answers at once, or never (an entry that died with the request). */
async function fakeEntry(answers: boolean): Promise<{ address: string; puts: () => number; stop(): void }> {
  const server = new Server();
  let puts = 0;
  const unimplemented = (_: unknown, cb: sendUnaryData<never>): void => cb({ code: status.UNIMPLEMENTED });
  server.addService(DhtService, {
    put: (_call: ServerUnaryCall<PutRequest, PutResponse>, cb: sendUnaryData<PutResponse>) => {
      puts++;
      if (answers) cb(null, PutResponse.fromPartial({ guid: Buffer.alloc(16, 1), replicasAcknowledged: 2 }));
    },
    get: unimplemented,
    remove: unimplemented,
    route: unimplemented,
    status: unimplemented,
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, puts: () => puts, stop: () => server.forceShutdown() };
}

describe('the chaos workload', () => {
  it('hedges an operation that gets no answer: a second attempt through another entry after 1 s wins', async () => {
    const [silent, live] = [await fakeEntry(false), await fakeEntry(true)];
    // random() = 0 picks the first idle entry: the silent one first.
    const w = new Workload(1, () => 0, 5000);
    try {
      w.setEntries([
        { name: 'silent', id: '0'.repeat(32), address: silent.address },
        { name: 'live', id: '1'.repeat(32), address: live.address },
      ]);
      const t0 = Date.now();
      await w.write();
      const took = Date.now() - t0;
      expect(w.stats).toMatchObject({ ok: 1, failed: 0, retries: 1 });
      expect(w.acknowledged.size).toBe(1);
      expect([silent.puts(), live.puts()]).toEqual([1, 1]);
      expect(took).toBeGreaterThanOrEqual(950);
      expect(took).toBeLessThan(3000);
    } finally {
      w.close();
      silent.stop();
      live.stop();
    }
  });

  it('an operation no entry answers fails at its deadline, with at most three attempts at once', async () => {
    const entries = await Promise.all([fakeEntry(false), fakeEntry(false), fakeEntry(false), fakeEntry(false)]);
    const w = new Workload(1, () => 0.5, 2500);
    try {
      w.setEntries(entries.map((e, i) => ({ name: `e${i}`, id: String(i).repeat(32), address: e.address })));
      const t0 = Date.now();
      await w.write();
      const took = Date.now() - t0;
      expect(w.stats).toMatchObject({ ok: 0, failed: 1 });
      expect(w.acknowledged.size).toBe(0);
      expect(w.uncertain.size).toBe(1);
      expect(took).toBeGreaterThanOrEqual(2450);
      expect(took).toBeLessThan(3500);
      // Attempts at 0, 1 and 2 s, each still waiting: three, through three different entries.
      expect(entries.map((e) => e.puts()).sort()).toEqual([0, 1, 1, 1]);
      // The report keeps the failed operation with its attempts: which entries, when, no answer.
      expect(w.stats.failures).toHaveLength(1);
      const [failure] = w.stats.failures;
      expect(failure).toMatchObject({ op: 'put', key: [...w.uncertain][0] });
      expect(failure!.attempts.map((a) => a.entry).sort()).toEqual(entries.flatMap((e, i) => (e.puts() === 1 ? [`e${i}`] : [])));
      expect(failure!.attempts.map((a) => Math.round(a.startS))).toEqual([0, 1, 2]);
      expect(failure!.attempts.every((a) => a.endS === null && a.error === null)).toBe(true);
    } finally {
      w.close();
      entries.forEach((e) => e.stop());
    }
  });
});

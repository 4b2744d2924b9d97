import type { SubscribeResponse, TopicMessage } from '../../../services/node/src/gen/pastry/v1/messaging';
import type { Retained } from '../../../services/node/src/scribe/retention';
import { Subscription } from '../../../services/node/src/scribe/subscription';

/** Timers run when the test says so; the retained window is a map. */
function world(retained: Map<number, Retained>, head = { sequence: 0, oldest: 0 }) {
  const timers: (() => void)[] = [];
  const source = {
    fetch: async (s: number): Promise<Retained> => retained.get(s) ?? { kind: 'missing' },
    head: async () => head,
    setTimer: (_ms: number, fn: () => void) => {
      timers.push(fn);
      return () => undefined;
    },
  };
  const fire = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      const due = timers.splice(0);
      due.forEach((fn) => fn());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { source, fire };
}

const msg = (sequence: number): TopicMessage => ({ topic: 't', id: Buffer.from(String(sequence).padStart(16, '0')), sequence, publisher: 'p', payload: Buffer.from(`m${sequence}`), publishedAtMs: 0, anycast: false });

async function drain(sub: Subscription): Promise<SubscribeResponse[]> {
  sub.close();
  const out: SubscribeResponse[] = [];
  for await (const e of sub.events) out.push(e);
  return out;
}

const seqs = (events: SubscribeResponse[]): number[] => events.flatMap((e) => (e.message ? [Number(e.message.sequence)] : []));

describe('a subscription delivers each sequence once, in order', () => {
  it('orders early messages, drops duplicates, passes over void sequences', async () => {
    const { source, fire } = world(new Map());
    const sub = new Subscription('t', source, undefined);
    sub.start(4, 1);
    sub.offer(msg(7));
    sub.offer(msg(5));
    sub.offer(msg(5));
    sub.offer({ ...msg(6), id: Buffer.alloc(0) });
    sub.offer(msg(8));
    sub.offer(msg(3));
    await fire();
    const events = await drain(sub);
    expect(events[0]!.subscribed).toEqual({ topic: 't', sequence: 4, oldestRetained: 1 });
    expect(seqs(events)).toEqual([5, 7, 8]);
    expect(sub.stats.duplicates).toBe(2);
  });

  it('fills a gap from the retained window and reports what the window no longer holds', async () => {
    const retained = new Map<number, Retained>([
      [2, { kind: 'expired' }],
      [3, { kind: 'expired' }],
      [4, { kind: 'message', message: msg(4) }],
    ]);
    const { source, fire } = world(retained);
    const sub = new Subscription('t', source, undefined);
    sub.start(1, 1);
    sub.offer(msg(5));
    await fire();
    const events = await drain(sub);
    expect(events.filter((e) => e.gap).map((e) => e.gap)).toEqual([{ first: 2, last: 3 }]);
    expect(seqs(events)).toEqual([4, 5]);
    expect(sub.stats).toMatchObject({ fetched: 1, lost: 2 });
  });

  it('catches up from a past sequence: a gap for what is gone, then the window, then live', async () => {
    const retained = new Map<number, Retained>([6, 7, 8].map((s) => [s, { kind: 'message', message: msg(s) }]));
    const { source, fire } = world(retained, { sequence: 8, oldest: 6 });
    const sub = new Subscription('t', source, 2);
    sub.start(8, 6);
    sub.offer(msg(9));
    await fire();
    const events = await drain(sub);
    expect(events.find((e) => e.gap)?.gap).toEqual({ first: 2, last: 5 });
    expect(seqs(events)).toEqual([6, 7, 8, 9]);
  });

  it('cuts off a subscriber that holds too many messages out of order', async () => {
    const { source } = world(new Map());
    const sub = new Subscription('t', source, undefined);
    sub.start(0, 0);
    for (let s = 2; s < 10_003; s++) sub.offer(msg(s));
    await expect(drain(sub)).rejects.toThrow(/out of order/);
  });
});

describe('a catch-up whose first head read fails', () => {
  it('reads the head again and delivers the retained messages', async () => {
    const retained = new Map<number, Retained>([1, 2, 3].map((s) => [s, { kind: 'message', message: msg(s) }]));
    const { source, fire } = world(retained, { sequence: 3, oldest: 1 });
    let failures = 2;
    const head = source.head;
    source.head = async () => {
      if (failures-- > 0) throw new Error('the root did not answer');
      return head();
    };
    const sub = new Subscription('t', source, 1);
    sub.start(0, 0);
    await fire();
    expect(seqs(await drain(sub))).toEqual([1, 2, 3]);
  });
});

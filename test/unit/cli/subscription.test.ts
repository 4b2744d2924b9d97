import { Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { MessagingService, type SubscribeRequest, type SubscribeResponse, type TopicMessage } from '../../../services/node/src/gen/pastry/v1/messaging';
import { Position, follow, topicHead, type FollowEvents } from '../../../services/cli/src/subscription';

const msg = (sequence: number, over: Partial<TopicMessage> = {}): SubscribeResponse => ({
  message: { topic: 't', id: Buffer.alloc(16, sequence), sequence, publisher: 'p', payload: Buffer.from(`m${sequence}`), publishedAtMs: 0, anycast: false, ...over },
});
const subscribed = (sequence: number, oldestRetained = 1): SubscribeResponse => ({ subscribed: { topic: 't', sequence, oldestRetained } });

describe('Position', () => {
  it('without --from, starts after the newest message the node reports', () => {
    const p = new Position(0);
    expect(p.resumeFrom()).toBe(0);
    p.subscribed({ topic: 't', sequence: 9, oldestRetained: 1 });
    expect(p.resumeFrom()).toBe(10);
    expect(p.accept(msg(10).message!)).toBe(true);
    expect(p.resumeFrom()).toBe(11);
  });

  it('drops what was already delivered, moves past gaps once, and never drops anycast messages', () => {
    const p = new Position(3);
    expect(p.accept(msg(3).message!)).toBe(true);
    expect(p.accept(msg(3).message!)).toBe(false);
    expect(p.accept(msg(2).message!)).toBe(false);
    expect(p.gap({ first: 4, last: 6 })).toBe(true);
    expect(p.gap({ first: 4, last: 6 })).toBe(false);
    expect(p.resumeFrom()).toBe(7);
    expect(p.accept(msg(0, { anycast: true }).message!)).toBe(true);
    expect(p.resumeFrom()).toBe(7);
    // A resubscription's `subscribed` does not move a known position.
    p.subscribed({ topic: 't', sequence: 100, oldestRetained: 1 });
    expect(p.resumeFrom()).toBe(7);
  });
});

/** An in-process Messaging server whose Subscribe does what `script` says. */
async function fakeNode(script: (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>) => void): Promise<{ target: string; requests: SubscribeRequest[]; stop(): void }> {
  const server = new Server();
  const requests: SubscribeRequest[] = [];
  const unimplemented = (_: unknown, cb: (e: { code: number }) => void): void => cb({ code: status.UNIMPLEMENTED });
  server.addService(MessagingService, {
    publish: unimplemented,
    send: unimplemented,
    anycast: unimplemented,
    subscribe: (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>) => {
      requests.push(call.request);
      script(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { target: `127.0.0.1:${port}`, requests, stop: () => server.forceShutdown() };
}

function recorder(): FollowEvents & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    subscribed: (s, target, resumed) => log.push(`subscribed ${s.sequence}${resumed ? ' resumed' : ''}`),
    message: (m) => void log.push(`message ${m.sequence}`),
    gap: (g) => log.push(`gap ${g.first}..${g.last}`),
    notice: (text) => log.push(`notice ${text}`),
  };
}

const fail = (call: ServerWritableStream<unknown, unknown>, code: number, details: string): void => void call.emit('error', { code, details });

describe('follow', () => {
  const nodes: { stop(): void }[] = [];
  afterEach(() => nodes.splice(0).forEach((n) => n.stop()));

  it('resumes through the next target from the last sequence + 1; repeats nothing, reports a gap once', async () => {
    const a = await fakeNode((call) => {
      [subscribed(0), msg(1), msg(2)].forEach((e) => call.write(e));
      setTimeout(() => fail(call, status.UNAVAILABLE, 'node died'), 50);
    });
    const b = await fakeNode((call) => {
      [subscribed(2), msg(2), { gap: { first: 3, last: 4 } }, { gap: { first: 3, last: 4 } }, msg(5)].forEach((e) => call.write(e));
      call.end();
    });
    nodes.push(a, b);
    const events = recorder();
    const how = await follow({ targets: [a.target, b.target], topic: 't', inbox: '', fromSequence: 0, confirmTimeoutMs: 5000, signal: new AbortController().signal }, events);
    expect(how).toBe('ended');
    expect(a.requests.map((r) => r.fromSequence)).toEqual([0]);
    expect(b.requests.map((r) => r.fromSequence)).toEqual([3]);
    expect(events.log).toEqual(['subscribed 0', 'message 1', 'message 2', expect.stringMatching(new RegExp(`^notice subscription through ${a.target} failed \\(.*UNAVAILABLE: node died\\); resubscribing through ${b.target} from sequence 3$`)), 'subscribed 2 resumed', 'gap 3..4', 'message 5']);
  });

  it('gives up at once on an error another node would repeat (INVALID_ARGUMENT)', async () => {
    const a = await fakeNode((call) => fail(call, status.INVALID_ARGUMENT, 'topic is empty'));
    const b = await fakeNode(() => undefined);
    nodes.push(a, b);
    const events = recorder();
    await expect(follow({ targets: [a.target, b.target], topic: '', inbox: '', fromSequence: 0, confirmTimeoutMs: 5000, signal: new AbortController().signal }, events)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: `${a.target}: INVALID_ARGUMENT: topic is empty`,
    });
    expect(b.requests).toHaveLength(0);
    expect(events.log).toEqual([]);
  });

  it('moves on from a node that does not confirm the subscription in time', async () => {
    const silent = await fakeNode(() => undefined);
    const good = await fakeNode((call) => [subscribed(4), msg(5)].forEach((e) => call.write(e)));
    nodes.push(silent, good);
    const stop = new AbortController();
    const events = recorder();
    events.message = (m) => {
      events.log.push(`message ${m.sequence}`);
      stop.abort();
    };
    const how = await follow({ targets: [silent.target, good.target], topic: 't', inbox: '', fromSequence: 5, confirmTimeoutMs: 300, signal: stop.signal }, events);
    expect(how).toBe('stopped');
    expect(events.log[0]).toMatch(/DEADLINE_EXCEEDED: not subscribed within 0.3 s/);
    expect(events.log.slice(1)).toEqual(['subscribed 4 resumed', 'message 5']);
    expect(good.requests.map((r) => r.fromSequence)).toEqual([5]);
  });

  it('topicHead reads where a topic is and leaves', async () => {
    let cancelled = false;
    const node = await fakeNode((call) => {
      call.on('cancelled', () => (cancelled = true));
      call.write(subscribed(41, 7));
    });
    nodes.push(node);
    expect(await topicHead([node.target], 't', 5000, new AbortController().signal)).toEqual({ topic: 't', sequence: 41, oldestRetained: 7 });
    const deadline = Date.now() + 5000;
    while (!cancelled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe(true);
  });
});

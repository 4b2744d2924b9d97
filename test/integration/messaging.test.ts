import { credentials, Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { compareCloseness } from '../../services/node/src/core/id';
import { MessagingClient, type SubscribeResponse } from '../../services/node/src/gen/pastry/v1/messaging';
import { signalPod, startPod, waitForRing, type Pod } from '../../services/cli/src/cluster';
import { topicId } from '../../services/node/src/scribe/messages';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(300_000);

const SUBNET = '127.0.34';
const TOPIC = 'contract';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A client's subscriber: on a broken stream it subscribes again through the next live pod
 * from the last sequence it received + 1, as the delivery contract asks of clients.
 */
class Subscriber {
  readonly got: number[] = [];
  gaps = 0;
  reconnects = 0;
  private stream: ClientReadableStream<SubscribeResponse> | undefined;
  private client: MessagingClient | undefined;
  private stopped = false;

  constructor(
    private readonly pods: () => Pod[],
    private at: number,
  ) {}

  start(from = 0): Promise<void> {
    const pod = this.pods()[this.at % this.pods().length]!;
    this.client = new MessagingClient(pod.address, credentials.createInsecure());
    const stream = this.client.subscribe({ topic: TOPIC, fromSequence: from, inbox: '' });
    this.stream = stream;
    let established = false;
    return new Promise((resolve, reject) => {
      stream.on('data', (e: SubscribeResponse) => {
        if (e.subscribed) {
          established = true;
          resolve();
        }
        if (e.gap) this.gaps++;
        if (e.message) this.got.push(Number(e.message.sequence));
      });
      stream.on('error', () => {
        this.client?.close();
        this.at++;
        if (!established) return reject(new Error('subscribe failed'));
        if (this.stopped) return;
        this.reconnects++;
        const last = this.got[this.got.length - 1] ?? from - 1;
        void sleep(200).then(() => this.retry(last + 1));
      });
    });
  }

  private async retry(from: number): Promise<void> {
    for (let i = 0; i < 50 && !this.stopped; i++) {
      try {
        return await this.start(Math.max(from, 1));
      } catch {
        await sleep(300);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
    this.client?.close();
  }
}

describe('messaging on a local ring: the delivery contract through pod kills', () => {
  let ring: TestRing;
  const subscribers: Subscriber[] = [];

  beforeAll(async () => {
    ring = await startRing(6, SUBNET, { PASTRY_SCRIBE_REFRESH_MS: '500' });
  });

  afterAll(async () => {
    subscribers.forEach((s) => s.stop());
    await ring?.down();
  });

  it('kills the topic root and a subscriber\'s pod mid-stream: every acknowledged message reaches every subscriber once, in order', async () => {
    const pods = (): Pod[] => ring.state().pods;
    const id = topicId(TOPIC);
    const root = [...pods()].sort((a, b) => compareCloseness(id, a.id, b.id))[0]!;
    const others = pods().filter((p) => p.name !== root.name);
    // Five subscribers, one on each pod but the root; the first one's pod is killed later.
    for (let i = 0; i < others.length; i++) {
      const s = new Subscriber(() => pods().filter((p) => p.name !== root.name), i);
      subscribers.push(s);
      await s.start();
    }
    const publisher = new MessagingClient(others[others.length - 1]!.address, credentials.createInsecure());
    const publish = (n: number): Promise<number | undefined> =>
      new Promise((resolve) => publisher.publish({ topic: TOPIC, payload: Buffer.from(`m${n}`), publisher: 'test' }, new Metadata(), { deadline: Date.now() + 8000 }, (err, res) => resolve(err ? undefined : Number(res.sequence))));
    const acked: number[] = [];
    let failed = 0;
    for (let n = 0; n < 150; n++) {
      if (n === 40) signalPod(ring.options.runDir, root.name, 'SIGKILL');
      if (n === 60) {
        startPod(ring.state(), root.ordinal, ring.options, ring.env);
        await waitForRing(ring.state(), 60_000);
      }
      if (n === 90) signalPod(ring.options.runDir, others[0]!.name, 'SIGKILL');
      let seq: number | undefined;
      for (let attempt = 0; attempt < 20 && seq === undefined; attempt++) {
        seq = await publish(n);
        if (seq === undefined) {
          failed++;
          await sleep(250);
        }
      }
      if (seq !== undefined) acked.push(seq);
      await sleep(20);
    }
    publisher.close();
    expect(acked.length).toBe(150);
    expect(new Set(acked).size).toBe(acked.length);
    const deadline = Date.now() + 60_000;
    const missing = (s: Subscriber): number[] => acked.filter((q) => !s.got.includes(q));
    while (Date.now() < deadline && subscribers.some((s) => missing(s).length > 0)) await sleep(250);
    subscribers.forEach((s, i) => {
      const dups = s.got.length - new Set(s.got).size;
      const ordered = s.got.every((q, j) => j === 0 || q > s.got[j - 1]!);
      expect({ subscriber: i, missing: missing(s), dups, ordered, gaps: s.gaps }).toEqual({ subscriber: i, missing: [], dups: 0, ordered: true, gaps: 0 });
    });
    // The killed subscriber's pod forced a reconnect; the report says how many publishes were retried.
    expect(subscribers[0]!.reconnects).toBeGreaterThan(0);
    process.stdout.write(`messaging contract: ${acked.length} acknowledged, ${failed} publish attempts retried, reconnects ${subscribers.map((s) => s.reconnects).join(',')}\n`);
  });
});

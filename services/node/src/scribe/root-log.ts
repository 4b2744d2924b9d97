import { SCRIBE } from '../constants';
import { UnavailableError } from '../errors';
import type { TopicMessage } from '../gen/pastry/v1/messaging';
import type { ScribePublish } from '../gen/pastry/v1/scribe_peer';
import type { Logger } from '../logger';
import type { Retention } from './retention';
import type { TopicNode } from './topic-node';

interface Pending {
  publish: ScribePublish;
  resolve: (message: TopicMessage) => void;
  reject: (error: unknown) => void;
}

/**
 * The root's numbering of one topic. Publishes queue up and are committed in batches (group
 * commit): consecutive sequences, stored in parallel, then sent down the tree in sequence
 * order and acknowledged. A publish is acknowledged only once the DHT's write quorum holds
 * it, so nothing acknowledged is lost when the root changes: the next root reads the head.
 */
export class RootLog {
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private loaded = false;
  private closed = false;

  constructor(
    private readonly node: TopicNode,
    private readonly retention: Retention,
    private readonly deps: { disseminate: (node: TopicNode, message: TopicMessage) => void; randomId: () => Buffer; now: () => number; log: Logger },
  ) {}

  /** Publishes queued or being stored. */
  get busy(): boolean {
    return this.running !== undefined || this.queue.length > 0;
  }

  publish(publish: ScribePublish): Promise<TopicMessage> {
    if (this.closed) return Promise.reject(new UnavailableError('the topic\'s root moved; publish again'));
    return new Promise((resolve, reject) => {
      this.queue.push({ publish, resolve, reject });
      this.kick();
    });
  }

  /** Starts draining unless a drain runs; one that ends with publishes queued meanwhile starts again. */
  private kick(): void {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  /**
   * Stops numbering (another node is the root now): queued publishes are refused, for their
   * clients to publish again at the new root; resolves once the batch under way is stored,
   * so the sequence this node reports to the new root covers every number it gave.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new UnavailableError('the topic\'s root moved; publish again'));
    await this.running;
  }

  /** The topic's newest sequence, read from the DHT the first time this node is its root. */
  async load(): Promise<void> {
    if (this.loaded) return;
    const stored = await this.retention.loadHead(this.node.topic);
    this.node.noteSequence(stored);
    this.loaded = true;
  }

  private async drain(): Promise<void> {
    // Never two messages of one batch in the same slot of the retained ring.
    while (this.queue.length > 0) await this.commit(this.queue.splice(0, Math.min(SCRIBE.publishBatch, this.retention.retain)));
  }

  private async commit(batch: Pending[]): Promise<void> {
    try {
      await this.load();
    } catch (error) {
      for (const p of batch) p.reject(new UnavailableError(`the topic's retained state cannot be read: ${(error as Error).message}`));
      return;
    }
    const first = this.node.lastSeq + 1;
    this.node.lastSeq += batch.length;
    const now = this.deps.now();
    const messages = batch.map((p, i): TopicMessage => ({ ...p.publish, id: this.deps.randomId(), sequence: first + i, publishedAtMs: now, anycast: false }));
    const stored = await Promise.allSettled(messages.map((m) => this.retention.store(m)));
    stored.forEach((result, i) => {
      const message = messages[i]!;
      if (result.status === 'fulfilled') {
        this.deps.disseminate(this.node, message);
        batch[i]!.resolve(message);
        return;
      }
      // The sequence is used: subscribers are told it holds nothing, so they wait for no message.
      const hole: TopicMessage = { ...message, id: Buffer.alloc(0), payload: Buffer.alloc(0), publisher: '' };
      this.deps.disseminate(this.node, hole);
      this.retention.store(hole).catch(() => undefined);
      batch[i]!.reject(new UnavailableError(`the message could not be stored: ${(result.reason as Error).message}`));
    });
    // Awaited: a later root probes at most one batch past the head.
    await this.retention.storeHead(this.node.topic, this.node.lastSeq).catch((error: unknown) => this.deps.log.warn('scribe_head_failed', { topic: this.node.topic, error: String(error) }));
  }
}

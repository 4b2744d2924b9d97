import { SCRIBE } from '../constants';
import type { Dht } from '../dht/dht';
import { NotFoundError } from '../errors';
import { TopicMessage } from '../gen/pastry/v1/messaging';
import { ScribeHeadReply } from '../gen/pastry/v1/scribe_peer';
import { toBuffer } from '../rpc/wire';

/**
 * A retained message; a sequence the root gave up on (never stored); one the window no longer
 * holds (its slot has a newer message); or nothing there (not stored yet, or unreachable).
 */
export type Retained = { kind: 'message'; message: TopicMessage } | { kind: 'void' } | { kind: 'expired' } | { kind: 'missing' };

/** The newest sequence of a topic and the oldest its window still holds (0: none). */
export interface Head {
  sequence: number;
  oldest: number;
}

/**
 * A topic's retained window in the DHT: a ring of `retain` slots, message n in slot n mod
 * retain (k replicas like any object), so a topic never holds more than its window and
 * nothing is ever removed (no tombstones); a head object holds the newest sequence, so a
 * new root continues the numbering and subscribers catch up with plain reads. Names join
 * topic and slot with NUL, which no topic may contain, so no two names collide.
 */
export class Retention {
  constructor(
    private readonly dht: Dht,
    readonly retain: number,
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  private deadline(): number {
    return this.now() + this.timeoutMs;
  }

  slotName(topic: string, sequence: number): string {
    return `scribe\u0000${topic}\u0000${sequence % this.retain}`;
  }

  static headName(topic: string): string {
    return `scribe\u0000${topic}\u0000head`;
  }

  oldest(last: number): number {
    if (last === 0) return 0;
    return Math.max(1, last - this.retain + 1);
  }

  /** Stores a message (or a void marker: a message without id); resolves once the write quorum has it. */
  async store(message: TopicMessage): Promise<void> {
    await this.dht.put(this.slotName(message.topic, Number(message.sequence)), toBuffer(TopicMessage.encode(message).finish()), this.deadline());
  }

  async storeHead(topic: string, sequence: number): Promise<void> {
    const head = ScribeHeadReply.encode({ sequence, oldestRetained: this.oldest(sequence) }).finish();
    await this.dht.put(Retention.headName(topic), Buffer.from(head), this.deadline());
  }

  /**
   * The newest stored sequence: the head, then probes past it, since the messages of the
   * batch under way when the last root stopped may be stored while the head is not yet.
   */
  async loadHead(topic: string): Promise<number> {
    const head = await this.read(Retention.headName(topic));
    let last = head ? Number(ScribeHeadReply.decode(head).sequence) : 0;
    for (let probed = 0; probed < SCRIBE.headProbe; probed += SCRIBE.fetchWindow) {
      const probes = Array.from({ length: SCRIBE.fetchWindow }, (_, i) => last + 1 + i);
      const found = await Promise.all(probes.map(async (s) => (['message', 'void'].includes((await this.fetch(topic, s)).kind) ? s : 0)));
      const newest = Math.max(...found);
      if (newest === 0) break;
      last = newest;
    }
    return last;
  }

  async fetch(topic: string, sequence: number): Promise<Retained> {
    const bytes = await this.read(this.slotName(topic, sequence));
    if (!bytes) return { kind: 'missing' };
    const message = TopicMessage.decode(bytes);
    const stored = Number(message.sequence);
    if (stored > sequence) return { kind: 'expired' };
    if (stored < sequence) return { kind: 'missing' };
    return message.id.length === 0 ? { kind: 'void' } : { kind: 'message', message };
  }

  private async read(name: string): Promise<Buffer | undefined> {
    try {
      const routed = await this.dht.get({ guid: Buffer.alloc(0), name }, this.deadline());
      return routed.response.value;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }
}

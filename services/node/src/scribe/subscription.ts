import { SCRIBE } from '../constants';
import { ResourceExhaustedError } from '../errors';
import type { SubscribeResponse, TopicMessage } from '../gen/pastry/v1/messaging';
import { EventQueue } from './event-queue';
import type { Head, Retained } from './retention';
import type { LocalSink } from './topic-node';

/** What a subscription reads from besides the tree: the retained window. */
export interface RetainedSource {
  fetch(sequence: number): Promise<Retained>;
  head(): Promise<Head>;
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * One local subscriber: messages from the tree arrive in any order and maybe twice; this
 * delivers each sequence once, in the root's order. A sequence that does not come (a
 * parent died, the subscriber started in the past) is read from the retained window; one
 * the window no longer holds is reported as a gap, never silently skipped.
 */
export class Subscription implements LocalSink {
  readonly events = new EventQueue<SubscribeResponse>();
  /** The next sequence to deliver; undefined until the subscription has a starting point. */
  private next: number | undefined;
  /** Newest sequence known to exist. */
  private target = 0;
  private readonly buffer = new Map<number, TopicMessage>();
  private filling = false;
  private cancelTimer: (() => void) | undefined;
  private readonly recentIds = new Set<string>();
  /** A catch-up (`from`) needs the topic's head once; until it is read, filling retries. */
  private headRead = false;
  /** Messages delivered and gaps reported (for tests and metrics). */
  readonly stats = { delivered: 0, duplicates: 0, fetched: 0, lost: 0 };

  constructor(
    readonly topic: string,
    private readonly source: RetainedSource,
    private readonly from: number | undefined,
    /** The node's totals, counted with this subscription's. */
    private readonly totals: { delivered: number; duplicates: number; fetched: number; lost: number } = { delivered: 0, duplicates: 0, fetched: 0, lost: 0 },
  ) {}

  private count(what: 'delivered' | 'duplicates' | 'fetched' | 'lost', n = 1): void {
    this.stats[what] += n;
    this.totals[what] += n;
  }

  get closed(): boolean {
    return this.events.closed;
  }

  /** The tree is joined: `last` is the newest sequence it knew then. */
  start(last: number, oldest: number): void {
    this.push({ subscribed: { topic: this.topic, sequence: last, oldestRetained: oldest } });
    this.target = Math.max(this.target, last);
    this.next = this.from ?? last + 1;
    for (const s of this.buffer.keys()) if (s < this.next) this.buffer.delete(s);
    this.drain();
    this.schedule(0);
  }

  offer(message: TopicMessage): void {
    if (this.closed) return;
    if (message.anycast) return this.deliver(message);
    const seq = Number(message.sequence);
    if ((this.next !== undefined && seq < this.next) || this.buffer.has(seq)) {
      this.count('duplicates');
      return;
    }
    if (this.buffer.size >= SCRIBE.maxBuffered) return this.fail(new ResourceExhaustedError('too many messages out of order; subscribe again with from_sequence'));
    this.buffer.set(seq, message);
    this.target = Math.max(this.target, seq - 1);
    this.drain();
    if (this.next !== undefined && this.next <= this.target) this.schedule(SCRIBE.gapWaitMs);
  }

  seen(sequence: number): void {
    if (sequence <= this.target) return;
    this.target = sequence;
    if (this.next !== undefined && this.next <= this.target) this.schedule(SCRIBE.gapWaitMs);
  }

  close(): void {
    this.cancelTimer?.();
    this.events.end();
  }

  fail(error: unknown): void {
    this.cancelTimer?.();
    this.events.end(error);
  }

  private push(event: SubscribeResponse): void {
    if (this.events.length >= SCRIBE.maxSubscriberBacklog) return this.fail(new ResourceExhaustedError('the subscriber reads too slowly; subscribe again with from_sequence'));
    this.events.push(event);
  }

  private deliver(message: TopicMessage): void {
    const id = Buffer.from(message.id).toString('hex');
    if (this.recentIds.has(id)) {
      this.count('duplicates');
      return;
    }
    this.recentIds.add(id);
    if (this.recentIds.size > 4096) this.recentIds.delete(this.recentIds.values().next().value!);
    this.count('delivered');
    this.push({ message });
  }

  /** Delivers what is next in order; void sequences (never stored) are passed over. */
  private drain(): void {
    if (this.next === undefined) return;
    for (let m = this.buffer.get(this.next); m; m = this.buffer.get(this.next)) {
      this.buffer.delete(this.next);
      this.next++;
      if (m.id.length > 0) this.deliver(m);
    }
    if (this.next > this.target) this.target = this.next - 1;
  }

  private schedule(ms: number): void {
    if (this.filling || this.cancelTimer || this.closed) return;
    this.cancelTimer = this.source.setTimer(ms, () => {
      this.cancelTimer = undefined;
      void this.fill();
    });
  }

  /** Reads missing sequences from the retained window, a window of them at a time. */
  private async fill(): Promise<void> {
    if (this.filling || this.closed || this.next === undefined) return;
    this.filling = true;
    try {
      await this.skipExpired();
      let attempt = 0;
      while (!this.closed && this.next <= this.target) {
        const wanted = this.missing();
        const got = await Promise.all(wanted.map((s) => this.source.fetch(s).catch((): Retained => ({ kind: 'missing' }))));
        let progress = false;
        const expired = new Set<number>();
        got.forEach((r, i) => {
          if (r.kind === 'missing') return;
          progress = true;
          if (r.kind === 'expired') return void expired.add(wanted[i]!);
          this.count('fetched');
          this.buffer.set(wanted[i]!, r.kind === 'message' ? r.message : { topic: this.topic, id: Buffer.alloc(0), sequence: wanted[i]!, publisher: '', payload: Buffer.alloc(0), publishedAtMs: 0, anycast: false });
        });
        this.drain();
        // Sequences the window no longer holds: one gap event for each run of them.
        while (expired.has(this.next)) {
          let last = this.next;
          while (expired.has(last + 1)) last++;
          this.reportGap(this.next, last);
        }
        attempt = progress ? 0 : attempt + 1;
        if (attempt >= SCRIBE.fetchAttempts) {
          this.reportGap(this.next, this.next);
          attempt = 0;
        } else if (!progress) {
          await new Promise<void>((resolve) => this.source.setTimer(SCRIBE.gapWaitMs * attempt, resolve));
        }
      }
    } finally {
      this.filling = false;
    }
    const catchingUp = this.from !== undefined && !this.headRead;
    if (!this.closed && (this.next <= this.target || catchingUp)) this.schedule(SCRIBE.gapWaitMs * (catchingUp ? 4 : 1));
  }

  /** The next sequences not yet here, up to a fetch window. */
  private missing(): number[] {
    const out: number[] = [];
    for (let s = this.next!; s <= this.target && out.length < SCRIBE.fetchWindow; s++) if (!this.buffer.has(s)) out.push(s);
    return out;
  }

  /** Sequences older than the window are gone: one gap event, then on from the oldest kept. */
  private async skipExpired(): Promise<void> {
    const head = await this.source.head().catch(() => undefined);
    if (!head) return;
    this.headRead = true;
    this.target = Math.max(this.target, head.sequence);
    if (head.oldest > 0 && this.next! < head.oldest) this.reportGap(this.next!, head.oldest - 1);
  }

  private reportGap(first: number, last: number): void {
    this.count('lost', last - first + 1);
    this.push({ gap: { first, last } });
    for (let s = first; s <= last; s++) this.buffer.delete(s);
    this.next = last + 1;
    this.drain();
  }
}

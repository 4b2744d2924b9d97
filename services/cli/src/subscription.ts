import { status } from '@grpc/grpc-js';
import type { Gap, Subscribed, SubscribeResponse, TopicMessage } from '../../node/src/gen/pastry/v1/messaging';
import { subscribeOnce } from './messaging-client';

/** Failed (re)subscriptions in a row, none confirmed, before a subscription gives up. */
const MAX_FAILURES = 6;
/** Pause before resubscribing, doubling per failure in a row up to the cap. */
const BACKOFF_MS = 300;
const BACKOFF_CAP_MS = 3_000;
/** Codes after which the same subscription through another node (or later) can work. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.UNKNOWN, status.INTERNAL, status.ABORTED, status.RESOURCE_EXHAUSTED]);

/**
 * Where a subscriber is in a topic: the next sequence it wants. A resubscription asks for
 * exactly that (from_sequence), and anything older that arrives again is dropped, so a
 * reconnect loses and repeats nothing.
 */
export class Position {
  private next: number | undefined;

  /** `from` 0: new messages only, so the position is known once the node says where the topic is. */
  constructor(from: number) {
    this.next = from > 0 ? from : undefined;
  }

  /** The from_sequence of the next Subscribe. */
  resumeFrom(): number {
    return this.next ?? 0;
  }

  subscribed(s: Subscribed): void {
    // Without a from_sequence the stream starts after the newest message at subscription.
    if (this.next === undefined) this.next = Number(s.sequence) + 1;
  }

  /** False for a message already delivered. Anycast messages are not numbered: always new. */
  accept(m: TopicMessage): boolean {
    const seq = Number(m.sequence);
    if (m.anycast || seq === 0) return true;
    if (this.next !== undefined && seq < this.next) return false;
    this.next = seq + 1;
    return true;
  }

  /** False for a gap already reported (a resubscription may report it again). */
  gap(g: Gap): boolean {
    const last = Number(g.last);
    if (this.next !== undefined && last < this.next) return false;
    this.next = last + 1;
    return true;
  }

  describe(): string {
    return this.next === undefined ? 'for new messages' : `from sequence ${this.next}`;
  }
}

export interface FollowOptions {
  /** Nodes to subscribe through, in turn: a failed stream resumes through the next. */
  targets: string[];
  topic: string;
  inbox: string;
  fromSequence: number;
  confirmTimeoutMs: number;
  /** Aborting ends the subscription (follow resolves 'stopped'). */
  signal: AbortSignal;
}

export interface FollowEvents {
  /** The node confirmed a (re)subscription; `resumed` after a failure. */
  subscribed(s: Subscribed, target: string, resumed: boolean): void;
  message(m: TopicMessage): void | Promise<void>;
  gap(g: Gap): void;
  /** A stream failed and the subscription goes on elsewhere. */
  notice(text: string): void;
}

function retryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && RETRYABLE.has(code);
}

/**
 * Follows a topic or inbox until the node ends the stream ('ended') or the signal aborts
 * ('stopped'), resubscribing through the next target after a failure. Rejects with the
 * ClientError of a failure that another attempt cannot fix, or of the last attempt.
 */
export async function follow(opts: FollowOptions, events: FollowEvents): Promise<'ended' | 'stopped'> {
  const position = new Position(opts.fromSequence);
  let failures = 0;
  let resumed = false;
  let current = '';
  const onEvent = async (event: SubscribeResponse): Promise<void> => {
    if (event.subscribed) {
      failures = 0;
      position.subscribed(event.subscribed);
      events.subscribed(event.subscribed, current, resumed);
    } else if (event.gap) {
      if (position.gap(event.gap)) events.gap(event.gap);
    } else if (event.message && position.accept(event.message) && !opts.signal.aborted) {
      await events.message(event.message);
    }
  };
  for (let attempt = 0; ; attempt++) {
    const target = opts.targets[attempt % opts.targets.length]!;
    current = target;
    const request = { topic: opts.topic, inbox: opts.inbox, fromSequence: position.resumeFrom() };
    try {
      await subscribeOnce(target, request, { confirmTimeoutMs: opts.confirmTimeoutMs, signal: opts.signal }, onEvent);
      return opts.signal.aborted ? 'stopped' : 'ended';
    } catch (error) {
      if (opts.signal.aborted) return 'stopped';
      failures++;
      if (!retryable(error) || failures >= MAX_FAILURES) throw error;
      const next = opts.targets[(attempt + 1) % opts.targets.length]!;
      events.notice(`subscription through ${target} failed (${(error as Error).message}); resubscribing through ${next} ${position.describe()}`);
      resumed = true;
      await sleep(Math.min(BACKOFF_MS * 2 ** (failures - 1), BACKOFF_CAP_MS), opts.signal);
    }
  }
}

/** The topic's newest and oldest retained sequences, as a subscription starting now would see them. */
export async function topicHead(targets: string[], topic: string, confirmTimeoutMs: number, signal: AbortSignal): Promise<Subscribed | undefined> {
  const probe = new AbortController();
  const stop = (): void => probe.abort();
  signal.addEventListener('abort', stop, { once: true });
  let head: Subscribed | undefined;
  try {
    await follow({ targets, topic, inbox: '', fromSequence: 0, confirmTimeoutMs, signal: probe.signal }, {
      subscribed: (s) => {
        head = s;
        probe.abort();
      },
      message: () => undefined,
      gap: () => undefined,
      notice: () => undefined,
    });
  } finally {
    signal.removeEventListener('abort', stop);
  }
  return head;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

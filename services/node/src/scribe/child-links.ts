import type { NodeHandle } from '../core/node-handle';
import { SCRIBE } from '../constants';
import type { TopicMessage } from '../gen/pastry/v1/messaging';
import type { Logger } from '../logger';
import type { Endpoint } from '../overlay/common-api';
import { encodeDirect } from './messages';
import type { TopicNode } from './topic-node';

interface Link {
  node: TopicNode;
  child: NodeHandle;
  queue: TopicMessage[];
  sending: boolean;
}

/**
 * Sends a topic's messages down to each child in order: one call in flight per child and
 * topic, and whatever queued meanwhile goes in the next call (batching under load). A child
 * that cannot be reached, or whose queue overflows, is dropped from the tree; it joins again
 * and reads what it missed from the retained window.
 */
export class ChildLinks {
  private readonly links = new Map<string, Link>();
  readonly stats = { sent: 0, calls: 0, dropped: 0 };

  constructor(
    private readonly endpoint: Endpoint,
    private readonly rpcTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  enqueue(node: TopicNode, child: NodeHandle, message: TopicMessage): void {
    const key = `${node.topic}\u0000${child.id}`;
    let link = this.links.get(key);
    if (!link) {
      link = { node, child, queue: [], sending: false };
      this.links.set(key, link);
    }
    if (link.queue.length >= SCRIBE.maxChildQueue) return this.drop(key, link, 'queue full');
    link.queue.push(message);
    if (!link.sending) void this.pump(key, link);
  }

  private async pump(key: string, link: Link): Promise<void> {
    link.sending = true;
    try {
      while (link.queue.length > 0) {
        const batch = link.queue.splice(0, SCRIBE.maxDeliverBatch);
        const payload = encodeDirect({ deliver: { topic: link.node.topic, messages: batch } });
        try {
          this.stats.calls++;
          await this.endpoint.send(link.child, payload, { deadline: this.endpoint.now() + this.rpcTimeoutMs });
          this.stats.sent += batch.length;
        } catch (error) {
          return this.drop(key, link, String(error));
        }
      }
    } finally {
      link.sending = false;
      if (link.queue.length === 0 && this.links.get(key) === link) this.links.delete(key);
    }
  }

  private drop(key: string, link: Link, why: string): void {
    this.stats.dropped++;
    this.log.debug('scribe_child_dropped', { topic: link.node.topic, child: link.child.name || link.child.id, why });
    link.queue.length = 0;
    this.links.delete(key);
    link.node.children.delete(link.child.id);
  }
}

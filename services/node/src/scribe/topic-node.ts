import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import type { TopicMessage } from '../gen/pastry/v1/messaging';

/** A child in a topic's tree, and when it last said it is there. */
export interface Child {
  handle: NodeHandle;
  refreshedAt: number;
}

/** A local subscriber's share of a topic: the subscription delivers in order. */
export interface LocalSink {
  /** A message from the tree (live), in any order; the sink orders and de-duplicates. */
  offer(message: TopicMessage): void;
  /** The tree saw up to this sequence: anything below it not yet delivered is a gap to fill. */
  seen(sequence: number): void;
}

/**
 * One node's part in one topic's tree: its parent (none at the root), its children, its
 * local subscribers and the newest sequence it has seen. Soft state: rebuilt by joins.
 */
export class TopicNode {
  parent: NodeHandle | undefined;
  /** This node numbers the topic's messages (it is the topic's root). */
  isRoot = false;
  /** Hops from the root (0 at the root); a cycle makes it grow without bound. */
  depth = 0;
  readonly children = new Map<Id, Child>();
  readonly sinks = new Set<LocalSink>();
  /** Newest sequence this node has seen (forwarded, delivered or numbered). */
  lastSeq = 0;
  /** A join under way: callers wait for it instead of sending another. */
  attaching: Promise<void> | undefined;
  /** A root claim under way (the numbering being read); resolves with a closer root, if one answered. */
  claiming: Promise<NodeHandle | undefined> | undefined;
  /** A closer node claimed the root while this node's claim ran: this one yields to it. */
  yieldTo: NodeHandle | undefined;
  /** Last publish or join seen here: an idle root keeps its numbering a while. */
  touchedAt = 0;

  constructor(
    readonly topic: string,
    readonly id: Id,
  ) {}

  get attached(): boolean {
    return this.isRoot || this.parent !== undefined;
  }

  /** Nothing here needs the tree: no subscriber, no child. */
  get idle(): boolean {
    return this.sinks.size === 0 && this.children.size === 0;
  }

  detach(): void {
    this.parent = undefined;
    this.isRoot = false;
    this.depth = 0;
  }

  noteSequence(sequence: number): void {
    if (sequence > this.lastSeq) this.lastSeq = sequence;
  }

  /** Children not heard from since `before`; they are dropped. */
  expired(before: number): Child[] {
    return [...this.children.values()].filter((c) => c.refreshedAt < before);
  }
}

import type { Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { SCRIBE } from '../constants';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { ScribeJoinReply, ScribeRefreshReply, type ScribeJoin } from '../gen/pastry/v1/scribe_peer';
import type { Logger } from '../logger';
import { fromNodeInfo, toNodeInfo } from '../overlay/codec';
import type { Endpoint } from '../overlay/common-api';
import { encodeDirect, encodeRouted, topicId } from './messages';
import { TopicNode } from './topic-node';

export interface TreeConfig {
  maxChildren: number;
  refreshMs: number;
  rpcTimeoutMs: number;
}

/** What the tree asks of the rest of Scribe when this node's role in a topic changes. */
export interface TreeHooks {
  /**
   * This node claims the topic's root: its numbering continues from the DHT and the nodes
   * nearest the topic are fenced. Resolves with a closer node that is the root (this one
   * yields), else undefined; rejects when the numbering cannot be read.
   */
  becameRoot(node: TopicNode): Promise<NodeHandle | undefined>;
  /** A routed message handed straight to the root another node yielded to. */
  handOn(root: NodeHandle, routed: Buffer, deadline: number): Promise<Buffer>;
  lostRoot(node: TopicNode): void;
  /** The root still has publishes under way: keep its state. */
  rootBusy(node: TopicNode): boolean;
}

/**
 * Scribe's trees on one node (Castro et al., JSAC 2002): a node joins a topic's tree by
 * routing a JOIN towards the topic id, and the first node on the route that is in the tree
 * (joining it first itself, the same way) takes it as a child: the tree is the union of the
 * routes to the root. Children are capped; a full node hands a newcomer to one of its
 * children. All of it is soft state: children refresh their place, parents drop silent ones,
 * and a node whose parent is gone or who is no longer the root joins again.
 */
export class Tree {
  readonly topics = new Map<string, TopicNode>();
  readonly stats = { joins: 0, pushDowns: 0, rejoins: 0, yields: 0 };
  /** Topics whose root is a closer node this node's leaf set may not know yet, and until when. */
  private readonly hints = new Map<string, { root: NodeHandle; until: number }>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly config: TreeConfig,
    private readonly log: Logger,
    private readonly hooks: TreeHooks,
  ) {}

  private get self(): NodeHandle {
    return this.endpoint.self;
  }

  private deadline(): number {
    return this.endpoint.now() + 2 * this.config.rpcTimeoutMs;
  }

  node(topic: string): TopicNode {
    let node = this.topics.get(topic);
    if (node) return node;
    if (this.topics.size >= SCRIBE.maxTopics) throw new ResourceExhaustedError(`this node takes part in ${SCRIBE.maxTopics} topics already`);
    node = new TopicNode(topic, topicId(topic));
    this.topics.set(topic, node);
    return node;
  }

  /** Whether this node is the live node closest to `id` by its leaf set. */
  isClosest(id: Id): boolean {
    return this.endpoint.replicaSet(id, 1)[0]?.id === this.self.id;
  }

  /** Joins the topic's tree unless this node is in it; concurrent callers share one join. */
  attach(node: TopicNode, deadline: number): Promise<void> {
    if (node.attached) return Promise.resolve();
    node.attaching ??= this.join(node, deadline).finally(() => (node.attaching = undefined));
    return node.attaching;
  }

  private async join(node: TopicNode, deadline: number): Promise<void> {
    const elsewhere = this.isClosest(node.id) ? await this.claimRoot(node) : undefined;
    if (this.isClosest(node.id) && !elsewhere) return;
    this.stats.joins++;
    const join = encodeRouted({ join: { topic: node.topic, child: toNodeInfo(this.self) } });
    const reply = elsewhere ? await this.hooks.handOn(elsewhere, join, deadline) : (await this.endpoint.route(node.id, join, { deadline })).reply;
    await this.adopted(node, ScribeJoinReply.decode(reply));
  }

  private async adopted(node: TopicNode, reply: ScribeJoinReply): Promise<void> {
    const parent = fromNodeInfo(reply.parent, 'parent');
    if (parent.id === this.self.id) {
      if (await this.claimRoot(node)) throw new UnavailableError(`the root of ${node.topic} is moving`);
      return;
    }
    node.parent = parent;
    node.isRoot = false;
    node.depth = reply.depth + 1;
    this.sawSequence(node, Number(reply.sequence));
  }

  /** The closer node this one yielded the topic's root to, while the hint lasts. */
  rootHint(topic: string): NodeHandle | undefined {
    const hint = this.hints.get(topic);
    if (!hint || hint.until < this.endpoint.now()) return undefined;
    return hint.root;
  }

  /** A closer node claimed the topic's root: messages for it go there while the hint lasts. */
  yieldTo(topic: string, root: NodeHandle): void {
    this.hints.set(topic, { root, until: this.endpoint.now() + SCRIBE.rootHintMs });
  }

  /** The hinted root did not answer: claim again next time. */
  dropHint(topic: string): void {
    this.hints.delete(topic);
  }

  /** Another node fenced this one out of the topic's root: numbering there, children and subscribers joining under it. */
  stepDown(node: TopicNode, root: NodeHandle): void {
    this.stats.yields++;
    this.yieldTo(node.topic, root);
    node.detach();
    this.hooks.lostRoot(node);
    this.rejoin(node);
  }

  /**
   * The overlay delivered the topic here: this node claims its root, unless a closer node
   * is the root (a hint, or a fenced node's answer), which is returned for the caller to hand on to.
   */
  async claimRoot(node: TopicNode): Promise<NodeHandle | undefined> {
    const hinted = this.rootHint(node.topic);
    if (hinted && !node.isRoot) return hinted;
    if (node.parent) this.leave(node.parent, node.topic);
    node.parent = undefined;
    node.depth = 0;
    if (node.isRoot) return undefined;
    // Not the root until the numbering is read and the nodes nearest the topic are fenced:
    // joins and publishes wait meanwhile (or fail, and clients retry), rather than numbering
    // from a wrong start or beside another root. Concurrent claims share one.
    node.claiming ??= this.hooks
      .becameRoot(node)
      .then((closer) => {
        if (closer) {
          this.stats.yields++;
          this.yieldTo(node.topic, closer);
          return closer;
        }
        node.isRoot = true;
        this.sawSequence(node, node.lastSeq);
        return undefined;
      })
      .finally(() => (node.claiming = undefined));
    return node.claiming;
  }

  /** A JOIN on the route (`atRoot` false: a hop; true: the key's root delivered it). */
  async acceptJoin(join: ScribeJoin, atRoot: boolean, deadline: number): Promise<ScribeJoinReply> {
    const child = fromNodeInfo(join.child, 'child');
    const node = this.node(join.topic);
    node.touchedAt = this.endpoint.now();
    if (atRoot && (await this.claimRoot(node))) throw new UnavailableError(`the root of ${join.topic} is moving`);
    if (!atRoot) await this.attach(node, deadline - this.config.rpcTimeoutMs / 2);
    return this.addChild(node, child, deadline);
  }

  /** A full parent's child is asked to take a newcomer. */
  async adopt(join: ScribeJoin, deadline: number): Promise<ScribeJoinReply> {
    const node = this.topics.get(join.topic);
    if (!node?.attached) throw new NotFoundError(`not in the tree of ${join.topic}`);
    return this.addChild(node, fromNodeInfo(join.child, 'child'), deadline);
  }

  private async addChild(node: TopicNode, child: NodeHandle, deadline: number): Promise<ScribeJoinReply> {
    // A node's own parent as its child would close a cycle cut off from the root.
    if (child.id === this.self.id || node.parent?.id === child.id) throw new InvalidArgumentError('a node cannot be its parent\'s parent');
    const now = this.endpoint.now();
    const known = node.children.get(child.id);
    if (known || node.children.size < this.config.maxChildren || this.config.maxChildren === 0) {
      node.children.set(child.id, { handle: child, refreshedAt: now });
      return this.accepted(node);
    }
    return this.pushDown(node, child, deadline);
  }

  private accepted(node: TopicNode): ScribeJoinReply {
    return { parent: toNodeInfo(this.self), sequence: node.lastSeq, depth: node.depth };
  }

  /** Hands the newcomer to the nearest children first; if none takes it, the cap gives way. */
  private async pushDown(node: TopicNode, child: NodeHandle, deadline: number): Promise<ScribeJoinReply> {
    this.stats.pushDowns++;
    const children = [...node.children.values()].map((c) => c.handle).sort((a, b) => this.endpoint.proximity(a.id) - this.endpoint.proximity(b.id));
    for (const c of children.slice(0, 3)) {
      try {
        return ScribeJoinReply.decode(await this.endpoint.send(c, encodeDirect({ adopt: { topic: node.topic, child: toNodeInfo(child) } }), { deadline }));
      } catch (error) {
        this.log.debug('scribe_adopt_failed', { topic: node.topic, child: c.name || c.id, error: String(error) });
      }
    }
    node.children.set(child.id, { handle: child, refreshedAt: this.endpoint.now() });
    return this.accepted(node);
  }

  /** A child says it is still there; topics where it is not a child are named for it to join again. */
  refreshFrom(from: NodeHandle, topics: string[]): ScribeRefreshReply {
    const reply: ScribeRefreshReply = { unknown: [], sequences: [], depths: [] };
    const now = this.endpoint.now();
    for (const topic of topics) {
      const node = this.topics.get(topic);
      const child = node?.attached ? node.children.get(from.id) : undefined;
      if (child) child.refreshedAt = now;
      else reply.unknown.push(topic);
      reply.sequences.push(node?.lastSeq ?? 0);
      reply.depths.push(node?.depth ?? 0);
    }
    return reply;
  }

  childLeft(from: NodeHandle, topic: string): void {
    this.topics.get(topic)?.children.delete(from.id);
  }

  /** A sequence seen from the parent: local subscribers fill what they missed below it. */
  sawSequence(node: TopicNode, sequence: number): void {
    node.noteSequence(sequence);
    for (const sink of node.sinks) sink.seen(node.lastSeq);
  }

  /** The leaf set changed: a root that is no longer the closest node joins the new root's tree. */
  checkRoots(): void {
    for (const node of this.topics.values()) {
      if (!node.isRoot || this.isClosest(node.id)) continue;
      this.log.info('scribe_root_moved', { topic: node.topic });
      node.detach();
      this.hooks.lostRoot(node);
      this.rejoin(node);
    }
  }

  /** A parent that left or died: every topic under it joins again. */
  parentLost(parent: Id): void {
    for (const node of this.topics.values()) if (node.parent?.id === parent) this.rejoin(node);
  }

  private rejoin(node: TopicNode): void {
    node.detach();
    if (node.idle) return;
    this.stats.rejoins++;
    this.attach(node, this.deadline()).catch((error: unknown) => this.log.debug('scribe_rejoin_failed', { topic: node.topic, error: String(error) }));
  }

  /** One maintenance round: silent children dropped, idle topics left, parents refreshed. */
  async round(): Promise<void> {
    const now = this.endpoint.now();
    const expiry = now - this.config.refreshMs * SCRIBE.refreshesBeforeExpiry;
    for (const node of [...this.topics.values()]) {
      for (const c of node.expired(expiry)) node.children.delete(c.handle.id);
      // A join or a root claim under way: the topic is about to be used, never forgotten.
      if (node.attaching || node.claiming) continue;
      if (node.idle && !this.keepRoot(node, now)) this.forget(node);
      else if (!node.attached && !node.attaching) this.rejoin(node);
    }
    this.checkRoots();
    await Promise.all([...this.byParent()].map(([, group]) => this.refresh(group)));
  }

  /** A root without subscribers keeps its numbering while publishes come (a reload costs reads). */
  private keepRoot(node: TopicNode, now: number): boolean {
    return node.isRoot && (this.hooks.rootBusy(node) || now - node.touchedAt < SCRIBE.idleRootMs);
  }

  private forget(node: TopicNode): void {
    if (node.parent) this.leave(node.parent, node.topic);
    this.hooks.lostRoot(node);
    this.topics.delete(node.topic);
  }

  private leave(parent: NodeHandle, topic: string): void {
    this.endpoint.send(parent, encodeDirect({ leave: { topic } }), { deadline: this.deadline() }).catch(() => undefined);
  }

  private byParent(): Map<Id, TopicNode[]> {
    const groups = new Map<Id, TopicNode[]>();
    for (const node of this.topics.values()) {
      if (!node.parent) continue;
      const group = groups.get(node.parent.id) ?? [];
      group.push(node);
      groups.set(node.parent.id, group);
    }
    return groups;
  }

  private async refresh(group: TopicNode[]): Promise<void> {
    const parent = group[0]!.parent!;
    let reply: ScribeRefreshReply;
    try {
      reply = ScribeRefreshReply.decode(await this.endpoint.send(parent, encodeDirect({ refresh: { topics: group.map((n) => n.topic) } }), { deadline: this.deadline() }));
    } catch (error) {
      this.log.debug('scribe_parent_lost', { parent: parent.name || parent.id, error: String(error) });
      for (const node of group) if (node.parent?.id === parent.id) this.rejoin(node);
      return;
    }
    const unknown = new Set(reply.unknown);
    group.forEach((node, i) => {
      if (node.parent?.id !== parent.id) return;
      if (unknown.has(node.topic)) return this.rejoin(node);
      node.depth = (reply.depths[i] ?? 0) + 1;
      // Depth grows around a cycle at every round: past the bound, join again through the route.
      if (node.depth > SCRIBE.maxDepth) {
        this.leave(parent, node.topic);
        return this.rejoin(node);
      }
      this.sawSequence(node, Number(reply.sequences[i] ?? 0));
    });
  }
}

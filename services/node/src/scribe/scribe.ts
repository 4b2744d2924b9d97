import { compareCloseness, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { SCRIBE } from '../constants';
import type { Dht } from '../dht/dht';
import { NotFoundError, UnavailableError } from '../errors';
import { PublishResponse, type TopicMessage } from '../gen/pastry/v1/messaging';
import { ScribeAnycastReply, ScribeClaimReply, ScribeHeadReply, ScribeJoinReply, ScribeRefreshReply, type ScribeAnycast, type ScribeRouted } from '../gen/pastry/v1/scribe_peer';
import type { Logger } from '../logger';
import { fromNodeInfo, toNodeInfo } from '../overlay/codec';
import type { Application, Endpoint, ForwardDecision, RoutedMessage } from '../overlay/common-api';
import { ChildLinks } from './child-links';
import { checkPayload, checkPublisher, checkTopic, decodeDirect, decodeRouted, encodeDirect, encodeRouted, inboxTopic, SCRIBE_APP, topicId } from './messages';
import { Retention } from './retention';
import { RootLog } from './root-log';
import { Subscription } from './subscription';
import type { TopicNode } from './topic-node';
import { Tree } from './tree';
import { toBuffer } from '../rpc/wire';

export interface ScribeConfig {
  maxChildren: number;
  retain: number;
  refreshMs: number;
  rpcTimeoutMs: number;
}

/**
 * Messaging, an application on the common API: Scribe publish/subscribe trees, direct
 * messages to named inboxes (a topic only its owner subscribes to), and anycast. The topic's
 * root numbers every message and keeps the last `retain` in the DHT, so subscribers get
 * each message once, in order, across parent failures and root changes.
 */
export class Scribe implements Application {
  readonly id = SCRIBE_APP;
  readonly tree: Tree;
  readonly links: ChildLinks;
  readonly retention: Retention;
  /** Each root's numbering, bound to its tree node: a forgotten node takes its log with it. */
  private readonly logs = new WeakMap<TopicNode, RootLog>();
  private readonly subscriptions = new Set<Subscription>();
  private cancelRound: (() => void) | undefined;
  /** Running totals (subscriptions add theirs as they go). */
  readonly stats = { published: 0, delivered: 0, anycasts: 0, fetched: 0, lost: 0, duplicates: 0 };

  constructor(
    private readonly endpoint: Endpoint,
    dht: Dht,
    private readonly config: ScribeConfig,
    private readonly log: Logger,
  ) {
    this.retention = new Retention(dht, config.retain, 2 * config.rpcTimeoutMs, () => endpoint.now());
    this.links = new ChildLinks(endpoint, config.rpcTimeoutMs, log);
    this.tree = new Tree(endpoint, config, log, {
      becameRoot: (node) => this.claim(node),
      handOn: (root, routed, deadline) => this.handOn(root, routed, deadline),
      lostRoot: (node) => {
        // No more numbering here: queued publishes are refused (clients publish again at the new root).
        void this.logs.get(node)?.close();
        this.logs.delete(node);
      },
      rootBusy: (node) => this.logs.get(node)?.busy ?? false,
    });
  }

  private deadline(factor = 2): number {
    return this.endpoint.now() + factor * this.config.rpcTimeoutMs;
  }

  /** Tree maintenance every refresh period. Idempotent. */
  start(): void {
    if (this.cancelRound) return;
    const arm = (): void => {
      this.cancelRound = this.endpoint.setTimer(this.config.refreshMs, () => {
        void this.tree.round().catch((error: unknown) => this.log.warn('scribe_round_failed', { error: String(error) })).finally(() => this.cancelRound && arm());
      });
    };
    arm();
  }

  stop(): void {
    this.cancelRound?.();
    this.cancelRound = undefined;
    // An error, not an end: a client reconnects through another node from its last sequence.
    for (const s of this.subscriptions) s.fail(new UnavailableError('this node is leaving the ring; subscribe through another node'));
  }

  // ---- The client API (any node serves it) ----

  async publish(topic: string, payload: Uint8Array, publisher: string, deadline = this.deadline(3)): Promise<PublishResponse> {
    const body = { topic: checkTopic(topic), payload: checkPayload(payload), publisher: checkPublisher(publisher) };
    const result = await this.endpoint.route(topicId(topic), encodeRouted({ publish: body }), { deadline });
    return PublishResponse.decode(result.reply);
  }

  send(to: string, payload: Uint8Array, publisher: string, deadline?: number): Promise<PublishResponse> {
    return this.publish(inboxTopic(to), payload, publisher, deadline);
  }

  async anycast(topic: string, payload: Uint8Array, publisher: string, deadline = this.deadline(3)): Promise<NodeHandle> {
    const body = { topic: checkTopic(topic), payload: checkPayload(payload), publisher: checkPublisher(publisher), visited: [] };
    const result = await this.endpoint.route(topicId(topic), encodeRouted({ anycast: body }), { deadline });
    return fromNodeInfo(ScribeAnycastReply.decode(result.reply).deliveredBy, 'deliveredBy');
  }

  /** Joins the topic's tree and starts a subscription (from `from`, or from the next message). */
  async subscribe(topic: string, from: number | undefined, deadline = this.deadline(3)): Promise<Subscription> {
    const node = this.tree.node(checkTopic(topic));
    const id = node.id;
    const subscription = new Subscription(topic, {
      fetch: (s) => this.retention.fetch(topic, s),
      head: async () => this.head(id, topic),
      setTimer: (ms, fn) => this.endpoint.setTimer(ms, fn),
    }, from, this.stats);
    node.sinks.add(subscription);
    this.subscriptions.add(subscription);
    try {
      await this.tree.attach(node, deadline);
    } catch (error) {
      this.unsubscribe(subscription);
      throw error;
    }
    subscription.start(node.lastSeq, this.retention.oldest(node.lastSeq));
    return subscription;
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  unsubscribe(subscription: Subscription): void {
    subscription.close();
    this.subscriptions.delete(subscription);
    this.tree.topics.get(subscription.topic)?.sinks.delete(subscription);
  }

  private async head(id: Id, topic: string): Promise<{ sequence: number; oldest: number }> {
    const result = await this.endpoint.route(id, encodeRouted({ head: { topic } }), { deadline: this.deadline() });
    const reply = ScribeHeadReply.decode(result.reply);
    return { sequence: Number(reply.sequence), oldest: Number(reply.oldestRetained) };
  }

  // ---- Upcalls ----

  /** On the route: a JOIN is taken by the first node in the tree; an anycast searches its subtree. */
  async forward(message: RoutedMessage, next: NodeHandle | undefined): Promise<ForwardDecision> {
    const m = decodeRouted(message.payload);
    if (m.join && next && message.hops.length > 0) {
      const reply = await this.tree.acceptJoin(m.join, false, message.deadline);
      return { action: 'answer', reply: toBuffer(ScribeJoinReply.encode(reply).finish()) };
    }
    if (m.anycast && next) {
      const node = this.tree.topics.get(m.anycast.topic);
      const taker = node?.attached ? await this.searchSubtree(node, m.anycast, message.deadline) : undefined;
      if (taker) return { action: 'answer', reply: anycastReply(taker) };
      message.payload = encodeRouted({ anycast: { ...m.anycast, visited: [...m.anycast.visited, Buffer.from(this.endpoint.self.id, 'hex')] } });
    }
    return { action: 'continue' };
  }

  /** At the topic's root (as the overlay sees it). */
  deliver(message: RoutedMessage): Promise<Buffer> {
    return this.serveAtRoot(decodeRouted(message.payload), message.deadline, true);
  }

  /** Serves a routed message as the topic's root, or hands it on to a closer root this node yielded to. */
  private async serveAtRoot(m: ScribeRouted, deadline: number, mayHandOn: boolean): Promise<Buffer> {
    const node = this.tree.node(topicOf(m));
    const closer = await this.tree.claimRoot(node);
    if (closer) {
      if (!mayHandOn) throw new UnavailableError(`the root of ${node.topic} is moving; try again`);
      return this.handOn(closer, encodeRouted(m), deadline);
    }
    if (m.join) return toBuffer(ScribeJoinReply.encode(await this.tree.acceptJoin(m.join, true, deadline)).finish());
    node.touchedAt = this.endpoint.now();
    if (m.publish) {
      const published = await this.rootLog(node).publish(m.publish);
      this.stats.published++;
      return toBuffer(PublishResponse.encode({ id: published.id, sequence: published.sequence }).finish());
    }
    if (m.head) {
      await this.rootLog(node).load();
      return toBuffer(ScribeHeadReply.encode({ sequence: node.lastSeq, oldestRetained: this.retention.oldest(node.lastSeq) }).finish());
    }
    const taker = await this.searchSubtree(node, m.anycast!, deadline);
    if (!taker) throw new NotFoundError(`no subscriber of ${m.anycast!.topic} took the message`);
    return anycastReply(taker);
  }

  /** Hands a routed message straight to the root; one that does not answer loses its hint. */
  private async handOn(root: NodeHandle, routed: Buffer, deadline: number): Promise<Buffer> {
    try {
      return await this.endpoint.send(root, encodeDirect({ routed }), { deadline });
    } catch (error) {
      this.tree.dropHint(topicOf(decodeRouted(routed)));
      throw error;
    }
  }

  /**
   * Claims a topic's root: reads its numbering from the DHT, then fences the nodes nearest the
   * topic. One that numbers the topic stops if this node is closer (after storing its batch
   * under way) and says how far it got; one that is closer says so, and this node yields.
   */
  private async claim(node: TopicNode): Promise<NodeHandle | undefined> {
    try {
      await this.rootLog(node).load();
    } catch (error) {
      this.log.warn('scribe_head_unreadable', { topic: node.topic, error: String(error) });
      throw new UnavailableError(`the topic's numbering cannot be read yet: ${(error as Error).message}`);
    }
    node.yieldTo = undefined;
    const self = this.endpoint.self.id;
    const peers = this.endpoint.replicaSet(node.id, SCRIBE.claimFanout + 1).filter((n) => n.id !== self).slice(0, SCRIBE.claimFanout);
    const deadline = this.deadline();
    const replies = await Promise.all(
      peers.map(async (peer) => {
        try {
          return { peer, reply: ScribeClaimReply.decode(await this.endpoint.send(peer, encodeDirect({ claim: { topic: node.topic } }), { deadline })) };
        } catch {
          return undefined;
        }
      }),
    );
    // A closer node that claimed while this claim ran (see claimed()) wins too.
    let closer: NodeHandle | undefined = node.yieldTo;
    for (const r of replies) {
      if (!r) continue;
      node.noteSequence(Number(r.reply.sequence));
      if (r.reply.root && (!closer || compareCloseness(node.id, r.peer.id, closer.id) < 0)) closer = r.peer;
    }
    return closer;
  }

  /** Another node claims a topic's root: this one yields if it is the root and the claimer is closer. */
  private async claimed(from: NodeHandle, topic: string): Promise<ScribeClaimReply> {
    const id = topicId(checkTopic(topic));
    const selfCloser = compareCloseness(id, this.endpoint.self.id, from.id) < 0;
    // A closer claimer is the root from now on for this node too: a claim of its own later
    // (its leaf set not yet knowing the claimer) yields instead of numbering beside it.
    if (!selfCloser) this.tree.yieldTo(topic, from);
    const node = this.tree.topics.get(topic);
    if (!node) return { sequence: 0, root: false };
    // Both claiming at once: the closer one wins at once (waiting for each other would deadlock).
    if (node.claiming) {
      if (!selfCloser) node.yieldTo = from;
      return { sequence: node.lastSeq, root: selfCloser };
    }
    if (!node.isRoot) return { sequence: node.lastSeq, root: false };
    if (selfCloser) return { sequence: node.lastSeq, root: true };
    await this.logs.get(node)?.close();
    this.log.info('scribe_root_yielded', { topic, to: from.name || from.id, sequence: node.lastSeq });
    this.tree.stepDown(node, from);
    return { sequence: node.lastSeq, root: false };
  }

  async receive(from: NodeHandle, payload: Buffer): Promise<Buffer> {
    const m = decodeDirect(payload);
    if (m.routed !== undefined) return this.serveAtRoot(decodeRouted(m.routed), this.deadline(), false);
    if (m.claim) return toBuffer(ScribeClaimReply.encode(await this.claimed(from, m.claim.topic)).finish());
    if (m.deliver) {
      const node = this.tree.topics.get(checkTopic(m.deliver.topic));
      // Not (or no longer) in this tree: the parent drops this node as its child.
      if (!node?.attached) throw new NotFoundError(`not in the tree of ${m.deliver.topic}`);
      for (const message of m.deliver.messages) this.disseminate(node, message);
      return Buffer.alloc(0);
    }
    if (m.refresh) return toBuffer(ScribeRefreshReply.encode(this.tree.refreshFrom(from, m.refresh.topics)).finish());
    if (m.leave) {
      this.tree.childLeft(from, m.leave.topic);
      return Buffer.alloc(0);
    }
    if (m.adopt) return toBuffer(ScribeJoinReply.encode(await this.tree.adopt(m.adopt, this.deadline())).finish());
    const node = this.tree.topics.get(m.anycast!.topic);
    const taker = node?.attached ? await this.searchSubtree(node, m.anycast!, this.deadline()) : undefined;
    return toBuffer(ScribeAnycastReply.encode({ delivered: taker !== undefined, deliveredBy: taker ? toNodeInfo(taker) : undefined }).finish());
  }

  update(node: NodeHandle, joined: boolean): void {
    this.tree.checkRoots();
    if (!joined) this.tree.parentLost(node.id);
  }

  // ---- Inside ----

  private rootLog(node: TopicNode): RootLog {
    let log = this.logs.get(node);
    if (!log) {
      log = new RootLog(node, this.retention, { disseminate: (n, m) => this.disseminate(n, m), randomId: () => this.randomId(), now: () => this.endpoint.now(), log: this.log });
      this.logs.set(node, log);
    }
    return log;
  }

  /** A message reached this tree node: down to every child, and to local subscribers. */
  private disseminate(node: TopicNode, message: TopicMessage): void {
    node.noteSequence(Number(message.sequence));
    for (const child of node.children.values()) this.links.enqueue(node, child.handle, message);
    for (const sink of node.sinks) sink.offer(message);
  }

  /** Scribe's anycast: a local subscriber, else a depth-first search of the children, nearest first. */
  private async searchSubtree(node: TopicNode, anycast: ScribeAnycast, deadline: number): Promise<NodeHandle | undefined> {
    const sinks = [...node.sinks];
    if (sinks.length > 0) {
      const sink = sinks[Math.floor(this.endpoint.random() * sinks.length)]!;
      sink.offer({ topic: anycast.topic, id: this.randomId(), sequence: 0, publisher: anycast.publisher, payload: anycast.payload, publishedAtMs: this.endpoint.now(), anycast: true });
      this.stats.anycasts++;
      return this.endpoint.self;
    }
    const visited = new Set(anycast.visited.map((v) => Buffer.from(v).toString('hex')));
    visited.add(this.endpoint.self.id);
    const children = [...node.children.values()].map((c) => c.handle).filter((c) => !visited.has(c.id));
    children.sort((a, b) => this.endpoint.proximity(a.id) - this.endpoint.proximity(b.id));
    const down = { ...anycast, visited: [...visited].map((v) => Buffer.from(v, 'hex')) };
    for (const child of children.slice(0, SCRIBE.anycastFanout)) {
      if (this.endpoint.now() >= deadline) break;
      try {
        const reply = ScribeAnycastReply.decode(await this.endpoint.send(child, encodeDirect({ anycast: down }), { deadline }));
        if (reply.delivered) return fromNodeInfo(reply.deliveredBy, 'deliveredBy');
      } catch {
        // A child that fails is skipped; the tree repairs itself.
      }
    }
    return undefined;
  }

  private randomId(): Buffer {
    return Buffer.from(Array.from({ length: 16 }, () => Math.floor(this.endpoint.random() * 256)));
  }
}

function topicOf(m: ScribeRouted): string {
  return (m.join?.topic ?? m.publish?.topic ?? m.head?.topic ?? m.anycast?.topic)!;
}

function anycastReply(taker: NodeHandle): Buffer {
  return toBuffer(ScribeAnycastReply.encode({ delivered: true, deliveredBy: toNodeInfo(taker) }).finish());
}

import type { Id } from '../../services/node/src/core/id';
import type { SubscribeResponse } from '../../services/node/src/gen/pastry/v1/messaging';
import { topicId } from '../../services/node/src/scribe/messages';
import type { Subscription } from '../../services/node/src/scribe/subscription';
import { DetRing, seedFromEnv, type DetNode, type RingOptions } from './ring';
import { expectClean } from './scenarios';

jest.setTimeout(240_000);

const NODES = 32;

async function ringOf(seed: number, options: Partial<RingOptions> = {}): Promise<DetRing> {
  const ring = new DetRing(seed, { antiEntropyIntervalMs: 3_600_000, links: { encode: false }, scribeRefreshMs: 1000, ...options });
  for (const h of ring.create(NODES)) ring.start(h);
  expectClean(seed, 'leaf sets', await ring.converge(90_000));
  return ring;
}

/** A subscriber's events as they arrive, and the error that ended them, if any. */
interface Received {
  node: DetNode;
  sub: Subscription;
  events: SubscribeResponse[];
  error?: unknown;
}

async function subscribe(ring: DetRing, node: DetNode, topic: string, from?: number): Promise<Received> {
  const r = await ring.net.settle(node.scribe.subscribe(topic, from, ring.net.now + 20_000), 30_000);
  if (!r.ok) throw r.error;
  const received: Received = { node, sub: r.value, events: [] };
  void (async () => {
    try {
      for await (const e of r.value.events) received.events.push(e);
    } catch (error) {
      received.error = error;
    }
  })();
  return received;
}

async function publish(ring: DetRing, via: DetNode, topic: string, text: string): Promise<number> {
  const r = await ring.net.settle(via.scribe.publish(topic, Buffer.from(text), via.handle.name, ring.net.now + 20_000), 30_000);
  if (!r.ok) throw r.error;
  return Number(r.value.sequence);
}

const sequences = (r: Received): number[] => r.events.flatMap((e) => (e.message ? [Number(e.message.sequence)] : []));
const payloads = (r: Received): string[] => r.events.flatMap((e) => (e.message ? [Buffer.from(e.message.payload).toString()] : []));
const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/** Every tree node of the topic reaches the true root through parents, with no cycle and no dead node. */
function treeProblems(ring: DetRing, topic: string, cap: number): string[] {
  const live = new Map(ring.live().map((n) => [n.handle.id, n]));
  const root = ring.trueRoot(topicId(topic));
  const problems: string[] = [];
  for (const n of live.values()) {
    const t = n.scribe.tree.topics.get(topic);
    if (!t) continue;
    if (cap > 0 && t.children.size > cap) problems.push(`${n.handle.name} has ${t.children.size} children`);
    for (const c of t.children.keys()) if (!live.has(c)) problems.push(`${n.handle.name} keeps dead child ${c}`);
    if (t.sinks.size === 0) continue;
    const seen = new Set<Id>();
    let at: DetNode | undefined = n;
    while (at && !at.scribe.tree.topics.get(topic)?.isRoot) {
      if (seen.has(at.handle.id)) {
        problems.push(`${n.handle.name}: cycle through ${at.handle.name}`);
        break;
      }
      seen.add(at.handle.id);
      const parent: { id: Id; name: string } | undefined = at.scribe.tree.topics.get(topic)?.parent;
      const next: DetNode | undefined = parent ? live.get(parent.id) : undefined;
      if (!next) problems.push(`${n.handle.name}: ${at.handle.name}'s parent ${parent?.name ?? 'none'} is not live`);
      else if (!next.scribe.tree.topics.get(topic)?.children.has(at.handle.id)) problems.push(`${next.handle.name} does not count ${at.handle.name} as a child`);
      at = next;
    }
    if (at && at.handle.id !== root.handle.id) problems.push(`${n.handle.name}: the tree's root ${at.handle.name} is not the true root ${root.handle.name}`);
  }
  return problems;
}

describe('deterministic network: Scribe messaging', () => {
  it('builds a tree from the routes under a children cap and delivers every message once, in order', async () => {
    const seed = seedFromEnv(301);
    const ring = await ringOf(seed, { scribeMaxChildren: 3 });
    const nodes = ring.live();
    const subs: Received[] = [];
    for (const n of nodes.slice(0, 20)) subs.push(await subscribe(ring, n, 'news'));
    for (let i = 1; i <= 30; i++) expect(await publish(ring, nodes[(i * 7) % NODES]!, 'news', `m${i}`)).toBe(i);
    await ring.net.runFor(5_000);
    for (const s of subs) {
      expect({ seed, node: s.node.handle.name, seqs: sequences(s) }).toEqual({ seed, node: s.node.handle.name, seqs: range(1, 30) });
      expect(payloads(s)[29]).toBe('m30');
      expect(s.events[0]!.subscribed?.topic).toBe('news');
    }
    expect(treeProblems(ring, 'news', 3)).toEqual([]);
    const pushDowns = ring.live().reduce((sum, n) => sum + n.scribe.tree.stats.pushDowns, 0);
    expect(pushDowns).toBeGreaterThan(0);
    // The root numbers the topic; the tree's root is the topic id's true root.
    expect(ring.trueRoot(topicId('news')).scribe.tree.topics.get('news')?.isRoot).toBe(true);
  });

  it('repairs the tree when forwarders die: nothing lost, nothing twice, in order', async () => {
    const seed = seedFromEnv(302);
    const ring = await ringOf(seed, { scribeMaxChildren: 4 });
    const nodes = ring.live();
    const root = ring.trueRoot(topicId('ops'));
    const subs: Received[] = [];
    for (const n of nodes.slice(0, 24)) if (n !== root) subs.push(await subscribe(ring, n, 'ops'));
    for (let i = 1; i <= 10; i++) await publish(ring, nodes[28]!, 'ops', `a${i}`);
    // Kill two tree nodes that have children (not the root): their subtrees must join again.
    const forwarders = ring.live().filter((n) => n !== root && (n.scribe.tree.topics.get('ops')?.children.size ?? 0) > 0);
    const victims = forwarders.slice(0, 2);
    expect(victims.length).toBe(2);
    for (const v of victims) ring.crash(v.handle);
    const survivors = subs.filter((s) => !victims.includes(s.node));
    const publisher = nodes[28]!;
    for (let i = 11; i <= 30; i++) await publish(ring, publisher, 'ops', `b${i}`);
    await ring.net.runFor(15_000);
    for (const s of survivors) expect({ seed, node: s.node.handle.name, seqs: sequences(s) }).toEqual({ seed, node: s.node.handle.name, seqs: range(1, 30) });
    expect(treeProblems(ring, 'ops', 4)).toEqual([]);
  });

  it('continues the numbering on a new root when the root dies or a closer node joins', async () => {
    const seed = seedFromEnv(303);
    const ring = await ringOf(seed);
    const topic = 'chat/room';
    const oldRoot = ring.trueRoot(topicId(topic));
    const subs: Received[] = [];
    for (const n of ring.live().slice(0, 12)) if (n !== oldRoot) subs.push(await subscribe(ring, n, topic));
    const via = subs[0]!.node;
    for (let i = 1; i <= 10; i++) await publish(ring, via, topic, `x${i}`);
    ring.crash(oldRoot.handle);
    expectClean(seed, 'leaf sets after the root died', await ring.converge(60_000));
    const acked: number[] = [];
    for (let i = 11; i <= 20; i++) {
      const r = await ring.net.settle(via.scribe.publish(topic, Buffer.from(`y${i}`), 'p', ring.net.now + 20_000), 30_000);
      if (r.ok) acked.push(Number(r.value.sequence));
    }
    expect(acked.length).toBeGreaterThan(0);
    // No sequence is given twice: the new root read the old one's numbering from the DHT.
    expect(acked[0]).toBeGreaterThan(10);
    expect(new Set(acked).size).toBe(acked.length);
    // A node closer to the topic id joins: it becomes the root and the numbering goes on.
    const id = topicId(topic);
    const closer = { id: id.slice(0, 31) + (id[31] === '0' ? '1' : '0'), address: '10.0.9.99:7000', name: 'closer' };
    ring.handles.push(closer);
    ring.start(closer);
    expectClean(seed, 'leaf sets after the join', await ring.converge(60_000));
    await ring.net.runFor(3_000);
    for (let i = 21; i <= 30; i++) {
      const r = await ring.net.settle(via.scribe.publish(topic, Buffer.from(`z${i}`), 'p', ring.net.now + 20_000), 30_000);
      if (r.ok) acked.push(Number(r.value.sequence));
    }
    expect(ring.nodes.get(closer.address)!.scribe.tree.topics.get(topic)?.isRoot).toBe(true);
    expect(acked).toEqual([...acked].sort((a, b) => a - b));
    expect(new Set(acked).size).toBe(acked.length);
    await ring.net.runFor(15_000);
    for (const s of subs) {
      const got = sequences(s);
      // Each subscriber: every acknowledged message once, in order.
      expect({ seed, node: s.node.handle.name, dups: got.length - new Set(got).size, sorted: got.join() === [...got].sort((a, b) => a - b).join() }).toEqual({ seed, node: s.node.handle.name, dups: 0, sorted: true });
      expect({ seed, node: s.node.handle.name, missing: [...range(1, 10), ...acked].filter((q) => !got.includes(q)) }).toEqual({ seed, node: s.node.handle.name, missing: [] });
    }
    expect(treeProblems(ring, topic, 24)).toEqual([]);
  });

  it('catches a subscriber up from the retained window and reports what it no longer holds', async () => {
    const seed = seedFromEnv(304);
    const ring = await ringOf(seed, { scribeRetain: 10 });
    const nodes = ring.live();
    for (let i = 1; i <= 25; i++) await publish(ring, nodes[i % NODES]!, 'log', `l${i}`);
    const late = await subscribe(ring, nodes[5]!, 'log', 1);
    const recent = await subscribe(ring, nodes[9]!, 'log', 20);
    await ring.net.runFor(5_000);
    expect(late.events.find((e) => e.gap)?.gap).toEqual({ first: 1, last: 15 });
    expect(sequences(late)).toEqual(range(16, 25));
    expect(sequences(recent)).toEqual(range(20, 25));
    expect(payloads(recent)[0]).toBe('l20');
    // Then live messages follow, once each.
    await publish(ring, nodes[3]!, 'log', 'l26');
    await ring.net.runFor(3_000);
    expect(sequences(late)).toEqual(range(16, 26));
    expect(sequences(recent)).toEqual(range(20, 26));
    // The window is a ring of 10 slots: message 2's slot holds message 22 now.
    const gone = await ring.net.settle(nodes[0]!.scribe.retention.fetch('log', 2), 20_000);
    expect(gone.ok && gone.value.kind).toBe('expired');
    const later = await ring.net.settle(nodes[0]!.scribe.retention.fetch('log', 27), 20_000);
    expect(later.ok && later.value.kind).toBe('missing');
    const kept = await ring.net.settle(nodes[0]!.scribe.retention.fetch('log', 20), 20_000);
    expect(kept.ok && kept.value.kind).toBe('message');
  });

  it('delivers an anycast to exactly one subscriber, sends to inboxes, and refuses bad input', async () => {
    const seed = seedFromEnv(305);
    const ring = await ringOf(seed);
    const nodes = ring.live();
    const none = await ring.net.settle(nodes[1]!.scribe.anycast('workers', Buffer.from('job'), 'me', ring.net.now + 20_000), 30_000);
    expect(!none.ok && String(none.error)).toMatch(/NotFoundError/);
    const workers: Received[] = [];
    for (const n of nodes.slice(10, 14)) workers.push(await subscribe(ring, n, 'workers'));
    const took = await ring.net.settle(nodes[2]!.scribe.anycast('workers', Buffer.from('job'), 'me', ring.net.now + 20_000), 30_000);
    if (!took.ok) throw took.error;
    await ring.net.runFor(2_000);
    const got = workers.filter((w) => w.events.some((e) => e.message?.anycast));
    expect(got).toHaveLength(1);
    expect(got[0]!.node.handle.id).toBe(took.value.id);
    const inbox = await subscribe(ring, nodes[7]!, 'inbox/alice');
    const sent = await ring.net.settle(nodes[20]!.scribe.send('alice', Buffer.from('hi alice'), 'bob', ring.net.now + 20_000), 30_000);
    expect(sent.ok).toBe(true);
    await ring.net.runFor(2_000);
    expect(payloads(inbox)).toEqual(['hi alice']);
    expect(inbox.events.find((e) => e.message)?.message?.publisher).toBe('bob');
    for (const bad of [() => nodes[0]!.scribe.publish('', Buffer.from('x'), ''), () => nodes[0]!.scribe.publish('t', Buffer.alloc(64 * 1024 + 1), ''), () => nodes[0]!.scribe.publish('x'.repeat(257), Buffer.from('x'), '')]) {
      const r = await ring.net.settle(bad(), 1_000);
      expect(!r.ok && String(r.error)).toMatch(/InvalidArgumentError/);
    }
  });
});

describe('deterministic network: many topics at once', () => {
  it('delivers to every subscriber of 60 topics while tree rounds run during root claims', async () => {
    const seed = seedFromEnv(306);
    // Rounds every 50 ms: a round must never forget a topic whose root is reading its numbering.
    const ring = await ringOf(seed, { scribeRefreshMs: 50 });
    const rng = ring.net.rng;
    const subs: { topic: string; r: Received }[] = [];
    const pending: Promise<void>[] = [];
    for (let t = 0; t < 60; t++) {
      for (let i = 0; i < 3; i++) {
        const topic = `t${t}`;
        const node = ring.live()[rng.int(NODES)]!;
        pending.push(subscribe(ring, node, topic).then((r) => void subs.push({ topic, r })));
      }
    }
    await ring.net.settle(Promise.all(pending), 60_000);
    for (let t = 0; t < 60; t++) await publish(ring, ring.live()[rng.int(NODES)]!, `t${t}`, `hello ${t}`);
    await ring.net.runFor(5_000);
    const silent = subs.filter((s) => sequences(s.r).join() !== '1').map((s) => `${s.topic}@${s.r.node.handle.name}: ${sequences(s.r).join()}`);
    expect({ seed, subscribers: subs.length, silent }).toEqual({ seed, subscribers: 180, silent: [] });
  });
});

describe('deterministic network: a restarted root', () => {
  it.each([
    [311, true],
    [312, true],
    [313, true],
    [314, false],
    [315, false],
  ])('seed %i (a publish before the restart: %s): the old and the new root never give one sequence twice', async (base, before) => {
    const seed = seedFromEnv(base);
    // Slow links between the restarted root and the acting root: the acting root learns late
    // that the old one is back, while nodes that know it route the topic there.
    const slow = new Set<string>();
    const ring = await ringOf(seed, { links: { encode: false, delayMs: (a, b) => (slow.has(a) && slow.has(b) ? 1500 : 2) } });
    const topic = `fence-${seed}`;
    const root = ring.trueRoot(topicId(topic));
    const subs: Received[] = [];
    for (const n of ring.live().slice(0, 10)) if (n !== root) subs.push(await subscribe(ring, n, topic));
    const acked = new Map<number, string>();
    const publishFrom = async (via: DetNode, text: string): Promise<void> => {
      const r = await ring.net.settle(via.scribe.publish(topic, Buffer.from(text), 'p', ring.net.now + 10_000), 15_000);
      if (!r.ok) return;
      const seq = Number(r.value.sequence);
      expect({ seed, seq, twice: acked.has(seq) ? [acked.get(seq), text] : undefined }).toEqual({ seed, seq, twice: undefined });
      acked.set(seq, text);
    };
    for (let i = 0; i < 5; i++) await publishFrom(subs[0]!.node, `a${i}`);
    ring.crash(root.handle);
    await ring.net.runFor(4_000);
    // With no publish meanwhile, no node has claimed the root yet when the old one comes back.
    if (before) for (let i = 0; i < 5; i++) await publishFrom(subs[1]!.node, `b${i}`);
    const acting = before ? ring.live().find((n) => n.scribe.tree.topics.get(topic)?.isRoot)! : ring.trueRoot(topicId(topic));
    expect(acting).toBeDefined();
    slow.add(acting.handle.address).add(root.handle.address);
    // The old root comes back (empty store, same id) while publishes keep coming through every node.
    ring.start(root.handle);
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const live = ring.live();
      inFlight.push(publishFrom(live[i % live.length]!, `c${i}`));
      await ring.net.runFor(100);
    }
    await ring.net.settle(Promise.all(inFlight), 60_000);
    await ring.net.runFor(15_000);
    expect(acked.size).toBeGreaterThan(40);
    for (const s of subs) {
      const got = sequences(s);
      const wrong = s.events.flatMap((e) => (e.message && acked.has(Number(e.message.sequence)) && acked.get(Number(e.message.sequence)) !== Buffer.from(e.message.payload).toString() ? [Number(e.message.sequence)] : []));
      expect({ seed, node: s.node.handle.name, missing: [...acked.keys()].filter((q) => !got.includes(q)), wrong }).toEqual({ seed, node: s.node.handle.name, missing: [], wrong: [] });
    }
  });
});

describe('deterministic network: Scribe under churn (seeded scenarios)', () => {
  /**
   * Publishes at a steady rate while nodes crash and restart, the root among them; a
   * subscriber whose node dies subscribes again elsewhere from its last sequence + 1, as a
   * client does. Every acknowledged message must reach every subscriber once, in order.
   */
  async function scenario(seed: number): Promise<void> {
    const ring = await ringOf(seed, { scribeMaxChildren: 4 });
    const topic = `churn-${seed}`;
    const rng = ring.net.rng;
    const subs: { got: number[]; current: Received }[] = [];
    for (let i = 0; i < 8; i++) {
      const current = await subscribe(ring, ring.live()[rng.int(NODES)]!, topic);
      subs.push({ got: [], current });
    }
    const take = (s: { got: number[]; current: Received }): void => {
      s.got.push(...sequences(s.current));
      s.current.events.length = 0;
    };
    const acked: number[] = [];
    const crashed: DetNode[] = [];
    for (let round = 0; round < 12; round++) {
      const live = ring.live();
      const victim = round % 4 === 1 ? ring.trueRoot(topicId(topic)) : live[rng.int(live.length)]!;
      ring.crash(victim.handle);
      crashed.push(victim);
      if (crashed.length > 2) ring.start(crashed.shift()!.handle);
      for (const s of subs) {
        if (ring.net.isAlive(s.current.node.handle.address) && ring.nodes.get(s.current.node.handle.address) === s.current.node) continue;
        take(s);
        const alive = ring.live();
        const from = (s.got[s.got.length - 1] ?? 0) + 1;
        s.current = await subscribe(ring, alive[rng.int(alive.length)]!, topic, from);
      }
      for (let i = 0; i < 5; i++) {
        const alive = ring.live();
        const r = await ring.net.settle(alive[rng.int(alive.length)]!.scribe.publish(topic, Buffer.from(`r${round}.${i}`), 'p', ring.net.now + 20_000), 30_000);
        if (r.ok) acked.push(Number(r.value.sequence));
        await ring.net.runFor(200);
      }
    }
    await ring.net.runFor(20_000);
    expect({ seed, distinct: new Set(acked).size }).toEqual({ seed, distinct: acked.length });
    expect(acked.length).toBeGreaterThan(40);
    for (const [i, s] of subs.entries()) {
      take(s);
      const missing = acked.filter((q) => !s.got.includes(q));
      const dups = s.got.length - new Set(s.got).size;
      const ordered = s.got.every((q, j) => j === 0 || q > s.got[j - 1]!);
      expect({ seed, subscriber: i, missing, dups, ordered }).toEqual({ seed, subscriber: i, missing: [], dups: 0, ordered: true });
    }
  }

  it.each([401, 402, 403, 404])('seed %i: nothing acknowledged lost, nothing twice, in order', async (base) => {
    await scenario(seedFromEnv(base));
  });
});

import fc from 'fast-check';
import { compareCloseness, sharedPrefixLength, type Id } from '../../../services/node/src/core/id';
import { RoutingState } from '../../../services/node/src/core/routing-state';
import { adoptJoinState, joinContribution } from '../../../services/node/src/core/join';
import { fullyConnectedStates, handle, randomIds, routeKey, trueRoot } from '../../helpers/ring';

/** A ring where each node knows only a random sample: routing tables are sparse. */
function sparseStates(ids: Id[], sample: number, seed: number): Map<Id, RoutingState> {
  const states = new Map<Id, RoutingState>();
  const sorted = [...ids].sort();
  ids.forEach((id, i) => {
    const s = new RoutingState(handle(id, i), { leafSetSize: 16 });
    const at = sorted.indexOf(id);
    // A correct leaf set (as the maintenance protocol converges to)…
    for (let d = 1; d <= 8; d++) {
      s.learn(handle(sorted[(at + d) % sorted.length]!), 0);
      s.learn(handle(sorted[(((at - d) % sorted.length) + sorted.length) % sorted.length]!), 0);
    }
    // …and a partial routing table.
    for (let k = 0; k < sample; k++) s.learn(handle(ids[(i * 7919 + k * 104729 + seed) % ids.length]!), 0);
    states.set(id, s);
  });
  return states;
}

describe('RoutingState.nextHop', () => {
  it('each hop shares a longer prefix with the key or is numerically closer (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 40 }), (n, seed, sample) => {
        const ids = randomIds(n, seed);
        const states = sparseStates(ids, sample, seed);
        const key = randomIds(1, seed + 7)[0]!;
        for (const id of ids.slice(0, 20)) {
          const d = states.get(id)!.nextHop(key);
          if (d.kind === 'deliver') continue;
          const longer = sharedPrefixLength(d.node.id, key) > sharedPrefixLength(id, key);
          const closer = compareCloseness(key, d.node.id, id) < 0;
          expect(longer || closer).toBe(true);
          if (d.kind === 'routing_table') expect(longer).toBe(true);
          else expect(closer).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('delivers every key at its numerically closest node on random rings (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 10_000 }), (n, seed) => {
        const ids = randomIds(n, seed);
        const states = sparseStates(ids, 30, seed);
        for (const key of randomIds(30, seed + 1)) {
          const start = ids[parseInt(key.slice(0, 4), 16) % ids.length]!;
          expect(routeKey(states, start, key).root).toBe(trueRoot(ids, key));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('routes in at most ceil(log16 N) + 1 hops with full state', () => {
    const ids = randomIds(1000, 5);
    const states = fullyConnectedStates(ids);
    let total = 0;
    let max = 0;
    const keys = randomIds(500, 6);
    for (const key of keys) {
      const { root, hops } = routeKey(states, ids[0]!, key);
      expect(root).toBe(trueRoot(ids, key));
      total += hops;
      max = Math.max(max, hops);
    }
    expect(max).toBeLessThanOrEqual(Math.ceil(Math.log(1000) / Math.log(16)) + 1);
    expect(total / keys.length).toBeLessThan(Math.log(1000) / Math.log(16));
  });

  it('a node delivers only when its leaf set says it is the root', () => {
    const ids = randomIds(100, 9);
    const states = fullyConnectedStates(ids);
    for (const key of randomIds(200, 10)) {
      for (const id of ids.slice(0, 10)) {
        const s = states.get(id)!;
        if (s.nextHop(key).kind === 'deliver') expect(s.isRoot(key)).toBe(true);
      }
    }
  });

  it('skips an excluded id (a joiner is never routed to its own stale entry)', () => {
    const ids = randomIds(50, 12);
    const states = fullyConnectedStates(ids);
    const joiner = ids[10]!;
    for (const id of ids) {
      const d = states.get(id)!.nextHop(joiner, joiner);
      if (d.kind !== 'deliver') expect(d.node.id).not.toBe(joiner);
    }
  });
});

describe('RoutingState membership', () => {
  it('ignores a node it removed as dead unless the node itself gets in touch', () => {
    const [a, b] = randomIds(2, 13);
    const s = new RoutingState(handle(a!));
    s.learn(handle(b!), 0);
    s.forget(b!, 1000);
    expect(s.knows(b!)).toBe(false);
    s.learn(handle(b!), 2000);
    expect(s.knows(b!)).toBe(false);
    s.learn(handle(b!), 2000, { direct: true });
    expect(s.knows(b!)).toBe(true);
    s.forget(b!, 3000);
    s.learn(handle(b!), 3000 + s.config.deadNodeMemoryMs);
    expect(s.knows(b!)).toBe(true);
  });

  it('estimates the ring size from leaf-set density', () => {
    const ids = randomIds(2000, 14);
    const states = fullyConnectedStates(ids.slice(0, 300));
    const est = states.get(ids[0]!)!.estimateRingSize();
    expect(est).toBeGreaterThan(100);
    expect(est).toBeLessThan(900);
    const small = fullyConnectedStates(ids.slice(0, 5));
    expect(small.get(ids[0]!)!.estimateRingSize()).toBe(5);
  });
});

describe('join', () => {
  it('a joiner that adopts the path state and announces itself routes correctly', () => {
    const ids = randomIds(400, 15);
    const members = ids.slice(0, 399);
    const joinerId = ids[399]!;
    const states = fullyConnectedStates(members);
    // Route the join from an arbitrary entry, collecting each hop's contribution.
    const rows: { nodes: ReturnType<typeof handle>[] }[] = [];
    let leafSet: ReturnType<typeof handle>[] = [];
    let current = members[0]!;
    for (let hop = 0; hop < 10; hop++) {
      const s = states.get(current)!;
      const d = s.nextHop(joinerId, joinerId);
      const c = joinContribution(s, joinerId, d.kind === 'deliver');
      rows.push(...c.rows);
      if (d.kind === 'deliver') {
        leafSet = c.leafSet;
        break;
      }
      current = d.node.id;
    }
    expect(leafSet.length).toBeGreaterThan(0);
    const joiner = new RoutingState(handle(joinerId, 399));
    const learned = adoptJoinState(joiner, { rows, leafSet }, [], 0);
    for (const n of learned) {
      states.get(n.id)!.learn(joiner.self, 0, { direct: true });
      for (const m of states.get(n.id)!.leafSet.members()) joiner.learn(m, 0);
    }
    states.set(joinerId, joiner);
    const sorted = [...ids].sort();
    const at = sorted.indexOf(joinerId);
    const expected = new Set<string>();
    for (let d = 1; d <= 8; d++) {
      expected.add(sorted[(at + d) % sorted.length]!);
      expected.add(sorted[(at - d + sorted.length) % sorted.length]!);
    }
    expect(new Set(joiner.leafSet.members().map((h) => h.id))).toEqual(expected);
    for (const key of randomIds(300, 16)) {
      expect(routeKey(states, joinerId, key).root).toBe(trueRoot(ids, key));
      expect(routeKey(states, members[5]!, key).root).toBe(trueRoot(ids, key));
    }
  });
});

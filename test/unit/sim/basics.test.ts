import { compareCloseness } from '../../../services/node/src/core';
import { EventQueue } from '../../../services/sim/src/event-queue';
import { LiveRing } from '../../../services/sim/src/live-ring';
import { LatencyMatrix } from '../../../services/sim/src/network/latency-matrix';
import { ScanIndex } from '../../../services/sim/src/network/model';
import { EuclideanPlane } from '../../../services/sim/src/network/plane';
import { Rng } from '../../../services/sim/src/rng';

describe('Rng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('draws ids of 32 hex digits and integers in range', () => {
    const r = new Rng(1);
    for (let i = 0; i < 1000; i++) {
      expect(r.id()).toMatch(/^[0-9a-f]{32}$/);
      const v = r.int(10);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(10);
    }
  });

  it('samples distinct values', () => {
    const s = new Rng(3).sample(100, 40);
    expect(new Set(s).size).toBe(40);
    expect(s.every((v) => v >= 0 && v < 100)).toBe(true);
  });
});

describe('EventQueue', () => {
  it('runs events by time, then in insertion order, advancing virtual time', () => {
    const q = new EventQueue();
    const seen: string[] = [];
    q.schedule(5, () => seen.push(`b@${q.now}`));
    q.schedule(1, () => {
      seen.push(`a@${q.now}`);
      q.schedule(4, () => seen.push(`c@${q.now}`));
    });
    q.schedule(5, () => seen.push(`d@${q.now}`));
    expect(q.run()).toBe(4);
    expect(seen).toEqual(['a@1', 'b@5', 'd@5', 'c@5']);
  });

  it('orders many random events like a sort', () => {
    const q = new EventQueue();
    const r = new Rng(2);
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = r.int(500);
      q.schedule(t, () => times.push(q.now));
    }
    q.run();
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('rejects negative delays', () => {
    expect(() => new EventQueue().schedule(-1, () => undefined)).toThrow(RangeError);
  });
});

describe('network models', () => {
  it('the plane grid finds the same nearest nodes as a full scan', () => {
    const plane = EuclideanPlane.random(3000, new Rng(4));
    const grid = plane.proximityIndex();
    const scan = new ScanIndex(plane);
    for (let i = 0; i < 1500; i++) {
      grid.insert(i);
      scan.insert(i);
    }
    for (let q = 1500; q < 1600; q++) expect(grid.nearest(q, 32)).toEqual(scan.nearest(q, 32));
    expect(grid.nearest(10, 5)).not.toContain(10);
  });

  it('a synthetic latency matrix is symmetric with a zero diagonal', () => {
    const m = LatencyMatrix.synthetic(50, new Rng(5));
    for (let a = 0; a < 50; a++) {
      expect(m.delay(a, a)).toBe(0);
      for (let b = 0; b < 50; b++) {
        expect(m.delay(a, b)).toBe(m.delay(b, a));
        if (a !== b) expect(m.delay(a, b)).toBeGreaterThan(0);
      }
    }
  });

  it('parses matrices in JSON and text, and rejects malformed ones', () => {
    expect(LatencyMatrix.parse('[[0,3],[4,0]]').delay(1, 0)).toBe(4);
    expect(LatencyMatrix.parse('0 2.5\n2.5 0\n').delay(0, 1)).toBe(2.5);
    expect(() => LatencyMatrix.parse('[[0,1,2],[1,0]]')).toThrow(/row 0 has 3 entries/);
    expect(() => LatencyMatrix.parse('0 -1\n1 0')).toThrow(/not a non-negative number/);
  });
});

describe('LiveRing', () => {
  it('names the numerically closest live node and the k closest', () => {
    const r = new Rng(6);
    const ids = Array.from({ length: 300 }, () => r.id());
    const alive = (i: number): boolean => i % 7 !== 0;
    const ring = new LiveRing(ids.length, (i) => ids[i]!, alive);
    const live = [...ids.keys()].filter(alive);
    for (let t = 0; t < 200; t++) {
      const key = r.id();
      const byCloseness = [...live].sort((a, b) => compareCloseness(key, ids[a]!, ids[b]!));
      expect(ring.root(key)).toBe(byCloseness[0]);
      expect(ring.closest(key, 5)).toEqual(byCloseness.slice(0, 5));
    }
  });
});

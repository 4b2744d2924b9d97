import { RttEstimator } from '../../../services/node/src/core/rtt-estimator';

describe('RttEstimator', () => {
  const est = () => new RttEstimator({ minTimeoutMs: 50, maxTimeoutMs: 2000 });

  it('gives an unmeasured peer the ceiling', () => {
    expect(est().timeoutMs('a')).toBe(2000);
  });

  it('adapts to a fast, steady peer down to the floor', () => {
    const e = est();
    for (let i = 0; i < 50; i++) e.observe('a', 1);
    expect(e.timeoutMs('a')).toBe(50);
    expect(e.srtt('a')).toBeCloseTo(1, 5);
  });

  it('a slow, jittery peer gets srtt + 4 rttvar', () => {
    const e = est();
    for (let i = 0; i < 200; i++) e.observe('b', i % 2 === 0 ? 100 : 300);
    const t = e.timeoutMs('b');
    expect(t).toBeGreaterThan(300);
    expect(t).toBeLessThan(2000);
  });

  it('ignores nonsense samples and forgets peers', () => {
    const e = est();
    e.observe('c', Number.NaN);
    e.observe('c', -5);
    expect(e.srtt('c')).toBeUndefined();
    e.observe('c', 10);
    e.forget('c');
    expect(e.timeoutMs('c')).toBe(2000);
  });
});

import { runBalance } from '../../../services/sim/src/experiments/balance';

describe.each([16, 64])('pastry sim balance at %i pods', (nodes) => {
  const r = runBalance(nodes, 30_000, 3, 1);
  const [name, spread] = r.schemes;

  it('spread ids cut max/mean of objects per pod to near 1', () => {
    expect(name!.scheme).toBe('name');
    expect(spread!.scheme).toBe('spread');
    expect(spread!.maxOverMean).toBeLessThan(name!.maxOverMean);
    expect(spread!.maxOverMean).toBeLessThanOrEqual(1.1);
    expect(spread!.minOverMean).toBeGreaterThanOrEqual(0.9);
    // SHA-256 ids of pastry-0..N-1 are as uneven as random ones.
    expect(name!.maxOverMean).toBeGreaterThan(1.2);
  });
});

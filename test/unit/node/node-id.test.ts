import { createHash } from 'node:crypto';
import { RING_SIZE, toBigInt } from '../../../services/node/src/core/id';
import { loadConfig } from '../../../services/node/src/config';
import { nodeIdFor } from '../../../services/node/src/node-id';

/** Gaps between consecutive ids around the ring. */
function gaps(ids: string[]): bigint[] {
  const sorted = ids.map(toBigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.map((v, i) => (i + 1 < sorted.length ? sorted[i + 1]! - v : sorted[0]! + RING_SIZE - v));
}

describe('node ids', () => {
  it('name: SHA-256 of the name, as pods have always had', () => {
    expect(nodeIdFor('pastry-3', 'name')).toBe(createHash('sha256').update('pastry-3').digest().subarray(0, 16).toString('hex'));
    expect(loadConfig({}).idScheme).toBe('name');
  });

  it('spread: every ring of ordinals 0..N-1 has gaps within a factor of two, and the same ids every time', () => {
    for (let n = 2; n <= 100; n++) {
      const ids = Array.from({ length: n }, (_, i) => nodeIdFor(`pastry-${i}`, 'spread'));
      expect(new Set(ids).size).toBe(n);
      const g = gaps(ids);
      const min = g.reduce((a, b) => (b < a ? b : a));
      const max = g.reduce((a, b) => (b > a ? b : a));
      expect(max).toBeLessThanOrEqual(2n * min);
    }
    expect(nodeIdFor('pastry-7', 'spread')).toBe(nodeIdFor('pastry-7', 'spread'));
    // Two StatefulSets do not land on the same ids.
    expect(nodeIdFor('other-0', 'spread')).not.toBe(nodeIdFor('pastry-0', 'spread'));
    expect(loadConfig({ PASTRY_ID_SCHEME: 'spread', PASTRY_NODE_NAME: 'pastry-2' }).idScheme).toBe('spread');
  });

  it('spread needs a StatefulSet name', () => {
    expect(() => nodeIdFor('standalone', 'spread')).toThrow(/<set>-<ordinal>/);
  });
});

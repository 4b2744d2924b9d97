import { LeaseTable, RouteCache } from '../../../services/node/src/dht/cache';

const W = 'a'.repeat(32);
const copy = (version: number, value = `v${version}`) => ({ version, writer: W, tombstone: false, value: Buffer.from(value) });
const node = (i: number) => ({ id: i.toString(16).padStart(32, '0'), address: `n${i}`, name: '' });

describe('RouteCache', () => {
  it('serves a copy until its lease ends, then forgets it', () => {
    const c = new RouteCache(1024, 1000);
    c.put('g', copy(1), 1500, 500);
    expect(c.get('g', 1499)?.value.toString()).toBe('v1');
    expect(c.get('g', 1500)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('drops an older copy on invalidation and refuses a late reply carrying it', () => {
    const c = new RouteCache(1024, 1000);
    c.put('g', copy(1), 2000, 0);
    c.invalidate('g', { version: 2, writer: W, tombstone: false }, 10);
    expect(c.get('g', 11)).toBeUndefined();
    // The reply of a read served before the write arrives after the invalidation.
    c.put('g', copy(1), 2000, 20);
    expect(c.get('g', 21)).toBeUndefined();
    // The new version is cached again; after the invalidation's lease, anything is.
    c.put('g', copy(3), 2000, 30);
    expect(c.get('g', 31)?.version).toBe(3);
    c.invalidate('h', { version: 5, writer: W, tombstone: true }, 40);
    c.put('h', copy(4), 3000, 1041);
    expect(c.get('h', 1042)?.version).toBe(4);
  });

  it('keeps at most its bytes, least recently used out first, and never a tombstone', () => {
    const c = new RouteCache(300, 1000);
    for (let i = 0; i < 5; i++) c.put(`g${i}`, copy(1, 'x'.repeat(100)), 5000, 0);
    expect(c.size).toBe(3);
    expect(c.get('g0', 1)).toBeUndefined();
    c.get('g2', 1);
    c.put('g5', copy(1, 'y'.repeat(100)), 5000, 1);
    expect(c.get('g2', 2)).toBeDefined();
    expect(c.get('g3', 2)).toBeUndefined();
    c.put('t', { ...copy(1), tombstone: true }, 5000, 2);
    expect(c.get('t', 3)).toBeUndefined();
    expect(new RouteCache(0, 1000).enabled).toBe(false);
  });
});

describe('LeaseTable', () => {
  it('grants leases, hands the live ones over for revocation once, and bounds what it holds', () => {
    const t = new LeaseTable(1000, 3, 2);
    expect(t.grant('g', [node(1), node(2)], 0)).toBe(1000);
    // Two holders per object at most: a third gets no lease (its reader does not cache).
    expect(t.grant('g', [node(3)], 10)).toBe(0);
    expect(t.grant('h', [node(1)], 20)).toBe(1000);
    expect(t.grant('i', [node(1)], 30)).toBe(0);
    expect(t.take('g', 500).map((l) => l.holder.address).sort()).toEqual(['n1', 'n2']);
    expect(t.take('g', 500)).toEqual([]);
    expect(t.size).toBe(1);
    // Expired leases make room, and are not revoked.
    expect(t.grant('i', [node(4), node(5)], 1500)).toBe(1000);
    expect(t.take('h', 1500)).toEqual([]);
    expect(new LeaseTable(0, 10, 10).grant('g', [node(1)], 0)).toBe(0);
  });
});

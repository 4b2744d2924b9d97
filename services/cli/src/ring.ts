import { compareCloseness, clockwiseDistance } from '../../node/src/core/id';
import { idFromBytes } from '../../node/src/core/id';
import type { StatusResponse } from '../../node/src/gen/pastry/v1/dht';
import { PastryClient, nodeView, type NodeView } from './client';

export interface RingMember extends NodeView {
  leafSet: string[];
  ready: boolean;
  /** Live objects and their bytes in the member's store. */
  objects: number;
  bytes: number;
}

/** Walks the ring from one node through every node it and its peers know of. */
export async function walkRing(target: string, maxNodes = 4096, timeoutMs = 3000): Promise<RingMember[]> {
  const seen = new Set<string>([target]);
  const queue = [target];
  const members = new Map<string, RingMember>();
  while (queue.length > 0 && members.size < maxNodes) {
    const batch = queue.splice(0, 16);
    const results = await Promise.all(batch.map((address) => statusOf(address, timeoutMs)));
    for (const s of results) {
      if (!s || !s.self) continue;
      const self = nodeView(s.self);
      const leafSet = [...s.leafSetLeft, ...s.leafSetRight].map((n) => idFromBytes(n.id));
      members.set(self.id, { ...self, leafSet: [...new Set(leafSet)].sort(), ready: s.ready, objects: Number(s.liveObjects), bytes: Number(s.liveBytes) });
      const known = [...s.leafSetLeft, ...s.leafSetRight, ...s.neighborhoodSet, ...(s.routingTable?.slots ?? []).map((e) => e.node!)];
      for (const n of known) {
        if (n && !seen.has(n.address)) {
          seen.add(n.address);
          queue.push(n.address);
        }
      }
    }
  }
  return [...members.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function statusOf(address: string, timeoutMs: number): Promise<StatusResponse | undefined> {
  const client = new PastryClient(address, timeoutMs);
  try {
    return await client.status(timeoutMs);
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** The leaf set each member should have: the |L|/2 nearest on each side of the true ring. */
export function expectedLeafSet(ids: string[], self: string, leafSetSize: number): string[] {
  const others = ids.filter((id) => id !== self);
  const half = leafSetSize / 2;
  const right = [...others].sort((a, b) => cmp(clockwiseDistance(self, a), clockwiseDistance(self, b))).slice(0, half);
  const left = [...others].sort((a, b) => cmp(clockwiseDistance(a, self), clockwiseDistance(b, self))).slice(0, half);
  return [...new Set([...left, ...right])].sort();
}

/** Members whose leaf set differs from the true ring's, as a readable list. */
export function leafSetErrors(members: { id: string; name: string; leafSet: string[] }[], ids: string[], leafSetSize: number): string[] {
  const errors: string[] = [];
  for (const m of members) {
    const want = expectedLeafSet(ids, m.id, leafSetSize);
    const have = [...m.leafSet].sort();
    if (want.join() !== have.join()) errors.push(`${m.name || m.id}: has ${have.length}, expected ${want.length} (${want.filter((x) => !have.includes(x)).length} missing, ${have.filter((x) => !want.includes(x)).length} extra)`);
  }
  return errors;
}

/** The member numerically closest to a key: the key's true root. */
export function trueRoot(ids: string[], key: string): string {
  return ids.reduce((best, id) => (compareCloseness(key, id, best) < 0 ? id : best));
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { compareCloseness } from '../../services/node/src/core/id';
import { PeerClient, type ListObjectsResponse } from '../../services/node/src/gen/pastry/v1/peer';

/** GUID -> ids of the nodes holding a live copy, read through each node's ListObjects. */
export async function holders(pods: { address: string; id: string }[], includeTombstones = false): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  await Promise.all(
    pods.map(async (p) => {
      const client = new PeerClient(p.address, credentials.createInsecure());
      try {
        const res = await new Promise<ListObjectsResponse>((resolve, reject) =>
          client.listObjects({ from: Buffer.alloc(0), to: Buffer.alloc(0), limit: 0, includeTombstones }, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (e: ServiceError | null, r: ListObjectsResponse) => (e ? reject(e) : resolve(r))),
        );
        for (const o of res.objects) {
          const g = o.guid.toString('hex');
          map.set(g, [...(map.get(g) ?? []), p.id]);
        }
      } finally {
        client.close();
      }
    }),
  );
  return map;
}

export function closest(ids: string[], guid: string, k: number): string[] {
  return [...ids].sort((a, b) => compareCloseness(guid, a, b)).slice(0, k);
}

/** Objects not held by exactly their k closest live nodes, as "guid: want [...] have [...]". */
export async function misplaced(pods: { address: string; id: string; name: string }[], guids: string[], k: number): Promise<string[]> {
  const h = await holders(pods);
  const ids = pods.map((p) => p.id);
  const names = new Map(pods.map((p) => [p.id, p.name]));
  const label = (list: string[]) => list.map((id) => names.get(id) ?? id).sort().join(' ');
  return guids
    .filter((g) => closest(ids, g, k).sort().join() !== (h.get(g) ?? []).sort().join())
    .map((g) => `${g}: want ${label(closest(ids, g, k))}, have ${label(h.get(g) ?? [])}`);
}

export async function eventually<T>(check: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, intervalMs = 500): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let value = await check();
  while (!done(value) && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, intervalMs));
    value = await check();
  }
  return { value, ms: Date.now() - start };
}

import { credentials, type ServiceError } from '@grpc/grpc-js';
import { compareCloseness } from '../../node/src/core/id';
import { PeerClient, type ListObjectsResponse } from '../../node/src/gen/pastry/v1/peer';
import { unaryCall } from '../../node/src/rpc/unary-call';

/** Every object a node holds (ListObjects without bounds); errors read "<address>: <details>". */
export async function listObjects(address: string, includeTombstones: boolean, timeoutMs: number): Promise<ListObjectsResponse> {
  const client = new PeerClient(address, credentials.createInsecure());
  try {
    return await unaryCall(client.listObjects.bind(client), { from: Buffer.alloc(0), to: Buffer.alloc(0), limit: 0, includeTombstones }, { deadline: Date.now() + timeoutMs }).catch((e: ServiceError) => {
      throw new Error(`${address}: ${e.details || e.message}`);
    });
  } finally {
    client.close();
  }
}

/** GUID -> ids of the nodes holding a live copy, read through each node's ListObjects. */
export async function holders(pods: { address: string; id: string }[], includeTombstones = false, timeoutMs = 10_000): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  await Promise.all(
    pods.map(async (p) => {
      const res = await listObjects(p.address, includeTombstones, timeoutMs);
      for (const o of res.objects) {
        const g = o.guid.toString('hex');
        map.set(g, [...(map.get(g) ?? []), p.id]);
      }
    }),
  );
  return map;
}

/** The k ids numerically closest to a GUID: its true replica set. */
export function closest(ids: string[], guid: string, k: number): string[] {
  return [...ids].sort((a, b) => compareCloseness(guid, a, b)).slice(0, k);
}

/** Objects not held by each of their k closest live nodes (extra copies allowed unless `exact`). */
export async function underReplicated(pods: { address: string; id: string; name: string }[], guids: string[], k: number, exact = false): Promise<string[]> {
  const h = await holders(pods);
  const ids = pods.map((p) => p.id);
  const names = new Map(pods.map((p) => [p.id, p.name]));
  const label = (list: string[]) => list.map((id) => names.get(id) ?? id).sort().join(' ');
  return guids
    .filter((g) => {
      const want = closest(ids, g, k);
      const have = h.get(g) ?? [];
      return exact ? want.sort().join() !== [...have].sort().join() : !want.every((id) => have.includes(id));
    })
    .map((g) => `${g}: want ${label(closest(ids, g, k))}, have ${label(h.get(g) ?? [])}`);
}

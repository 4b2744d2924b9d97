import type { NodeHandle } from '../core/node-handle';
import { InvalidArgumentError, PastryError } from '../errors';
import {
  DhtDirect,
  DhtDirectReply,
  type FetchReplicasRequest,
  type FetchReplicasResponse,
  type ListObjectsRequest,
  type ListObjectsResponse,
  type StoreReplicasRequest,
  type StoreReplicasResponse,
  type SyncDigestRequest,
  type SyncDigestResponse,
  type SyncTreeRequest,
  type SyncTreeResponse,
  type InvalidateCacheRequest,
  type InvalidateCacheResponse,
} from '../gen/pastry/v1/dht_peer';
import type { Endpoint } from '../overlay/common-api';
import { toBuffer } from '../rpc/wire';

/** The DHT's id on the overlay: its messages carry it. */
export const DHT_APP = 'dht';

/** Request and answer of each direct DHT message. */
export interface DhtCalls {
  storeReplicas: [StoreReplicasRequest, StoreReplicasResponse];
  fetchReplicas: [FetchReplicasRequest, FetchReplicasResponse];
  syncDigest: [SyncDigestRequest, SyncDigestResponse];
  listObjects: [ListObjectsRequest, ListObjectsResponse];
  syncTree: [SyncTreeRequest, SyncTreeResponse];
  invalidateCache: [InvalidateCacheRequest, InvalidateCacheResponse];
}

export type DhtMethod = keyof DhtCalls;

export const DHT_METHODS: readonly DhtMethod[] = ['storeReplicas', 'fetchReplicas', 'syncDigest', 'listObjects', 'syncTree', 'invalidateCache'];

/** Sends one direct DHT message to the DHT on `node` and returns its answer. */
export async function callDht<M extends DhtMethod>(endpoint: Endpoint, node: NodeHandle, method: M, request: DhtCalls[M][0], deadline: number): Promise<DhtCalls[M][1]> {
  const payload = toBuffer(DhtDirect.encode({ [method]: request } as DhtDirect).finish());
  const reply = DhtDirectReply.decode(await endpoint.send(node, payload, { deadline }));
  const body = reply[method];
  if (body === undefined) throw new PastryError(`${node.name || node.address} answered ${method} with another message`);
  return body as DhtCalls[M][1];
}

/** Decodes a direct message: exactly one body. */
export function decodeDirect(payload: Buffer): { method: DhtMethod; request: DhtCalls[DhtMethod][0] } {
  let message: DhtDirect;
  try {
    message = DhtDirect.decode(payload);
  } catch (error) {
    throw new InvalidArgumentError(`malformed DHT message: ${(error as Error).message}`);
  }
  const present = DHT_METHODS.filter((m) => message[m] !== undefined);
  if (present.length !== 1) throw new InvalidArgumentError(`a DHT message needs exactly one body, got ${present.length}`);
  return { method: present[0]!, request: message[present[0]!]! };
}

export function encodeReply<M extends DhtMethod>(method: M, reply: DhtCalls[M][1]): Buffer {
  return toBuffer(DhtDirectReply.encode({ [method]: reply } as DhtDirectReply).finish());
}

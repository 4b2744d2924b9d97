import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { idToBytes } from '../../node/src/core/id';
import { DhtDirect, DhtDirectReply } from '../../node/src/gen/pastry/v1/dht_peer';
import { PeerClient, type DirectResponse } from '../../node/src/gen/pastry/v1/peer';
import { DHT_APP, type DhtCalls, type DhtMethod } from '../../node/src/dht/peer-messages';
import { toBuffer } from '../../node/src/rpc/wire';

/** A diagnostic caller's identity: never a ring member, so it needs no real address. */
const DIAGNOSTIC_SENDER = { id: idToBytes('0'.repeat(32)), address: 'diagnostic:0', name: 'pastry-cli' };

/**
 * Calls the DHT application of one node directly (the DHT's node-to-node messages travel
 * in Peer.Direct): ListObjects for diagnostics, StoreReplicas in tests.
 */
export async function dhtPeerCall<M extends DhtMethod>(address: string, method: M, request: DhtCalls[M][0], timeoutMs = 10_000): Promise<DhtCalls[M][1]> {
  const client = new PeerClient(address, credentials.createInsecure());
  try {
    const payload = toBuffer(DhtDirect.encode({ [method]: request } as DhtDirect).finish());
    const res = await new Promise<DirectResponse>((resolve, reject) =>
      client.direct({ sender: DIAGNOSTIC_SENDER, app: DHT_APP, payload }, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (e: ServiceError | null, r: DirectResponse) =>
        e ? reject(Object.assign(new Error(`${address}: ${e.details || e.message}`), { code: e.code })) : resolve(r),
      ),
    );
    const body = DhtDirectReply.decode(res.payload)[method];
    if (body === undefined) throw new Error(`${address}: answered ${method} with another message`);
    return body as DhtCalls[M][1];
  } finally {
    client.close();
  }
}

/** Metadata of every object a node stores. */
export function listObjects(address: string, includeTombstones: boolean, timeoutMs = 10_000): Promise<DhtCalls['listObjects'][1]> {
  return dhtPeerCall(address, 'listObjects', { from: Buffer.alloc(0), to: Buffer.alloc(0), limit: 0, includeTombstones }, timeoutMs);
}

/**
 * N js-libp2p kad-dht nodes, one process each (bench/kad-dht-node.mjs), on 127.0.0.1.
 * Node 0 starts first; the others dial it in parallel, then Kademlia's self-queries fill
 * their routing tables.
 *
 * up(n, timeoutMs, settleCapMs) returns once every node has joined (dialled node 0 and holds
 * it in its routing table) and the routing tables have settled (see IpcCluster.up). Kademlia
 * does not promise full tables: with the default 5-minute self-query interval they settle at
 * part of the ring, and lookups still converge through other peers.
 */
import { fileURLToPath } from 'node:url';
import { IpcCluster } from './ipc-cluster.mjs';

const NODE_SCRIPT = fileURLToPath(new URL('../kad-dht-node.mjs', import.meta.url));

export class KadCluster extends IpcCluster {
  constructor() {
    super(NODE_SCRIPT, 'kad-dht');
  }
}

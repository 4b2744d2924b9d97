/**
 * N Hyperswarm DHT (hyperdht) nodes, one process each (bench/hyperdht-node.mjs), UDP on
 * 127.0.0.1. Node 0 is the bootstrap node; the others bootstrap from it in parallel, and
 * dht-rpc's bootstrap and refresh queries fill their routing tables.
 *
 * The records are immutable (content-addressed): a node derives a key's value, and so its hash,
 * from the key and the value's size. A get therefore needs the size; `get(key)` uses the size
 * of the put of that key through this cluster, `get(key, size)` overrides it.
 */
import { fileURLToPath } from 'node:url';
import { IpcCluster, IpcNode } from './ipc-cluster.mjs';

const NODE_SCRIPT = fileURLToPath(new URL('../hyperdht-node.mjs', import.meta.url));

class HyperNode extends IpcNode {
  constructor(index, sizes) {
    super(NODE_SCRIPT, 'hyperdht', index);
    this.sizes = sizes;
  }

  put(key, size) {
    this.sizes.set(key, size);
    return super.put(key, size);
  }

  get(key, size = this.sizes.get(key)) {
    if (size === undefined) return Promise.reject(new Error(`hyperdht: no put of ${key} through this cluster, and no size given`));
    return super.get(key, size);
  }
}

export class HyperCluster extends IpcCluster {
  constructor() {
    super(NODE_SCRIPT, 'hyperdht');
    /** key → value size of every put through any node (a few thousand short strings per run). */
    this.sizes = new Map();
  }

  createNode(index) {
    return new HyperNode(index, this.sizes);
  }

  async down(graceMs) {
    await super.down(graceMs);
    this.sizes.clear();
  }
}

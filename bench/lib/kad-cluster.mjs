/**
 * N js-libp2p kad-dht nodes, one process each (bench/kad-dht-node.mjs), on 127.0.0.1.
 * Node 0 starts first; the others dial it in parallel, then Kademlia's self-queries fill
 * their routing tables.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killQuietly, waitForExit } from './proc.mjs';

const NODE_SCRIPT = fileURLToPath(new URL('../kad-dht-node.mjs', import.meta.url));

class KadNode {
  constructor(index) {
    this.index = index;
    this.pending = new Map();
    this.nextId = 0;
    this.child = fork(NODE_SCRIPT, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    this.pid = this.child.pid;
    this.stderr = '';
    this.child.stderr.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.on('message', (m) => this.onMessage(m));
    // A send to a node that has gone (EPIPE) surfaces as a rejected request or a failed start.
    this.child.on('error', (error) => (this.stderr += `\n${error.message}`));
    this.child.once('exit', (code) => {
      for (const { reject } of this.pending.values()) reject(new Error(`kad-dht node ${index} exited (${code}): ${this.stderr.trim().split('\n').pop() ?? ''}`));
      this.pending.clear();
      this.listening?.reject(new Error(`kad-dht node ${index} exited (${code}) before listening: ${this.stderr.trim()}`));
    });
  }

  onMessage(m) {
    if (m.type === 'listening') {
      this.addr = m.addr;
      this.peerId = m.peerId;
      this.listening?.resolve(m.addr);
    } else if (m.type === 'error') {
      this.listening?.reject(new Error(`kad-dht node ${this.index}: ${m.error}`));
    } else if (m.type === 'done') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p) (m.ok ? p.resolve(m) : p.reject(new Error(m.error)));
    }
  }

  send(message, reject) {
    if (!this.child.connected) return reject(new Error(`kad-dht node ${this.index} is gone`));
    this.child.send(message, (error) => error && reject(error));
  }

  start(bootstrap) {
    return new Promise((resolve, reject) => {
      this.listening = { resolve, reject };
      this.send({ type: 'start', bootstrap }, reject);
    });
  }

  request(message) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.send({ ...message, id }, (error) => {
        this.pending.delete(id);
        reject(error);
      });
    });
  }

  put(key, size) {
    return this.request({ type: 'op', op: 'put', key, size });
  }

  get(key) {
    return this.request({ type: 'op', op: 'get', key });
  }

  status() {
    return this.request({ type: 'status' });
  }
}

export class KadCluster {
  constructor() {
    this.nodes = [];
  }

  get pids() {
    return this.nodes.map((n) => n.pid);
  }

  /**
   * Starts n nodes; returns once every node has joined (dialled node 0 and holds it in its
   * routing table) and no routing table has changed for STABLE_MS: `readyMs` is the time of the
   * last change, `tableSizes` what the tables hold. Tables that keep changing past settleCapMs
   * end the wait there (`settled: false`, readyMs = the cap). (Kademlia does not promise full
   * tables: with the default 5-minute self-query interval they settle at part of the ring, and
   * lookups still converge through other peers.)
   */
  async up(n, timeoutMs, settleCapMs = 60_000) {
    const STABLE_MS = 2_000;
    const t0 = performance.now();
    this.nodes = Array.from({ length: n }, (_, i) => new KadNode(i));
    const joined = (async () => {
      const bootstrap = await this.nodes[0].start();
      await Promise.all(this.nodes.slice(1).map((node) => node.start(bootstrap)));
    })();
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`kad-dht nodes did not join within ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([joined, timeout]);
    } finally {
      clearTimeout(timer);
      joined.catch(() => {}); // reported through the race; the caller stops the nodes
    }
    let sizes = [];
    let lastChange = performance.now();
    for (;;) {
      const now = (await Promise.all(this.nodes.map((node) => node.status()))).map((s) => s.routingTable);
      if (now.join() !== sizes.join()) lastChange = performance.now();
      sizes = now;
      if (performance.now() - lastChange >= STABLE_MS) return { readyMs: lastChange - t0, tableSizes: sizes, settled: true };
      if (performance.now() - t0 >= settleCapMs) return { readyMs: performance.now() - t0, tableSizes: sizes, settled: false };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async down(graceMs = 5_000) {
    const pids = this.pids;
    for (const node of this.nodes) node.send({ type: 'stop' }, () => {});
    const left = await waitForExit(pids, graceMs);
    for (const pid of left) killQuietly(pid);
    await waitForExit(left, 2_000);
    this.nodes = [];
  }

  /** Synchronous last resort (process exit). */
  killNow() {
    for (const pid of this.pids) killQuietly(pid);
  }
}

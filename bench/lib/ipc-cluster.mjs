/**
 * N peer-DHT nodes, one process each, driven over the fork() IPC channel: the shape shared by
 * the kad-dht peer (bench/kad-dht-node.mjs) and the hyperdht peer (bench/hyperdht-node.mjs).
 * Node 0 starts first; the others join through it in parallel.
 *
 * The node scripts speak one protocol:
 *   {type:'start', bootstrap?}                  → {type:'listening', addr, peerId} (or {type:'error'})
 *   {type:'op', id, op:'put'|'get', key, size?} → {type:'done', id, ok, error?, rpcs}
 *   {type:'status', id}                         → {type:'done', id, ok, routingTable, connections}
 *   {type:'stop'}                               → exits
 */
import { fork } from 'node:child_process';
import { killQuietly, waitForExit } from './proc.mjs';

export class IpcNode {
  /** `label` names the system in errors ("kad-dht node 3 exited …"). */
  constructor(script, label, index) {
    this.label = label;
    this.index = index;
    this.pending = new Map();
    this.nextId = 0;
    this.child = fork(script, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    this.pid = this.child.pid;
    this.stderr = '';
    this.child.stderr.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.on('message', (m) => this.onMessage(m));
    // A send to a node that has gone (EPIPE) surfaces as a rejected request or a failed start.
    this.child.on('error', (error) => (this.stderr += `\n${error.message}`));
    this.child.once('exit', (code) => {
      for (const { reject } of this.pending.values()) reject(new Error(`${label} node ${index} exited (${code}): ${this.stderr.trim().split('\n').pop() ?? ''}`));
      this.pending.clear();
      this.listening?.reject(new Error(`${label} node ${index} exited (${code}) before listening: ${this.stderr.trim()}`));
    });
  }

  onMessage(m) {
    if (m.type === 'listening') {
      this.addr = m.addr;
      this.peerId = m.peerId;
      this.listening?.resolve(m.addr);
    } else if (m.type === 'error') {
      this.listening?.reject(new Error(`${this.label} node ${this.index}: ${m.error}`));
    } else if (m.type === 'done') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p) (m.ok ? p.resolve(m) : p.reject(new Error(m.error)));
    }
  }

  send(message, reject) {
    if (!this.child.connected) return reject(new Error(`${this.label} node ${this.index} is gone`));
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

  /** `size` only for systems whose get needs it (hyperdht derives the record from key and size). */
  get(key, size) {
    return this.request(size === undefined ? { type: 'op', op: 'get', key } : { type: 'op', op: 'get', key, size });
  }

  status() {
    return this.request({ type: 'status' });
  }
}

export class IpcCluster {
  constructor(script, label) {
    this.script = script;
    this.label = label;
    this.nodes = [];
  }

  get pids() {
    return this.nodes.map((n) => n.pid);
  }

  createNode(index) {
    return new IpcNode(this.script, this.label, index);
  }

  /**
   * Starts n nodes; returns once every node has joined (through node 0) and no routing table
   * has changed for STABLE_MS: `readyMs` is the time of the last change, `tableSizes` what the
   * tables hold. Tables that keep changing past settleCapMs end the wait there
   * (`settled: false`, readyMs = the cap).
   */
  async up(n, timeoutMs, settleCapMs = 60_000) {
    const STABLE_MS = 2_000;
    const t0 = performance.now();
    this.nodes = Array.from({ length: n }, (_, i) => this.createNode(i));
    const joined = (async () => {
      const bootstrap = await this.nodes[0].start();
      await Promise.all(this.nodes.slice(1).map((node) => node.start(bootstrap)));
    })();
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${this.label} nodes did not join within ${timeoutMs} ms`)), timeoutMs)));
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

import { compareCloseness, type Id } from '../../services/node/src/core/id';
import type { NodeHandle } from '../../services/node/src/core/node-handle';
import { compareVersions, replicaSet } from '../../services/node/src/core/replicas';
import type { Logger } from '../../services/node/src/logger';
import { assembleDht, assembleFiles, assembleScribe, type DhtParts } from '../../services/node/src/node';
import type { Files } from '../../services/node/src/files/files';
import type { Scribe } from '../../services/node/src/scribe/scribe';
import { Overlay, type OverlayConfig } from '../../services/node/src/overlay/overlay';
import { MemoryStore } from '../../services/node/src/store/memory-store';
import { DeterministicNetwork, type LinkModel } from '../../services/node/src/transport/deterministic-network';
import { Rng } from '../../services/node/src/core/rng';

export const SILENT: Logger = process.env.DET_LOG ? { debug: (e, f) => console.log(e, f), info() {}, warn: (e, f) => console.log(e, f), error: (e, f) => console.log(e, f) } : { debug() {}, info() {}, warn() {}, error() {} };

export interface RingOptions {
  leafSetSize: number;
  replicas: number;
  writeQuorum: number;
  maintenanceIntervalMs: number;
  rpcTimeoutMs: number;
  antiEntropyIntervalMs: number;
  partitionProbeIntervalMs: number;
  links: Partial<LinkModel>;
  /** Anti-entropy's store page (the node's default unless set). */
  scanPageObjects?: number;
  /** Lease on copies cached along a read's route, and the cache's bytes (no caching unless set). */
  cacheLeaseMs?: number;
  cacheBytes?: number;
  /** Value bytes each node stores at most (no limit unless set). */
  capacityBytes?: number;
  /** Anti-entropy's entry-by-entry threshold (the node's default unless set). */
  entrySyncObjects?: number;
  /** Value bytes a push reads ahead (the node's default unless set). */
  pushWindowBytes?: number;
  /** Objects anti-entropy repairs per peer per round (the node's default unless set). */
  repairsPerPeerPerRound?: number;
  /** Replica diversion by full nodes (on unless false). */
  diversion?: boolean;
  /** Reads go to the replica nearest each hop (on unless false). */
  nearestReplicaReads?: boolean;
  /** File sharing: bytes of fetched chunks each node keeps, and hashes per manifest page (defaults unless set). */
  fileCacheBytes?: number;
  hashesPerPage?: number;
  /** Messaging: children per tree node, retained messages per topic, tree refresh period (node defaults unless set). */
  scribeMaxChildren?: number;
  scribeRetain?: number;
  scribeRefreshMs?: number;
}

export const DEFAULTS: RingOptions = {
  leafSetSize: 16,
  replicas: 3,
  writeQuorum: 2,
  maintenanceIntervalMs: 1000,
  rpcTimeoutMs: 2000,
  antiEntropyIntervalMs: 5000,
  partitionProbeIntervalMs: 2000,
  links: {},
};

export interface DetNode {
  handle: NodeHandle;
  overlay: Overlay;
  parts: DhtParts;
  files: Files;
  scribe: Scribe;
  store: MemoryStore;
}

/** An acknowledged write: what must never be lost unless a later acknowledged write supersedes it. */
export interface Acked {
  name: string;
  guid: Id;
  value: string;
  version: number;
  /** The root that coordinated the write: equal versions are ordered by it, as replicas order them. */
  writer: Id;
  removed: boolean;
}

/**
 * A ring of real Overlay + DHT instances on the deterministic network: the node's own
 * protocol and application code, in virtual time, under one seed.
 */
export class DetRing {
  readonly net: DeterministicNetwork;
  readonly options: RingOptions;
  readonly nodes = new Map<string, DetNode>();
  readonly handles: NodeHandle[] = [];
  /** The newest acknowledged write of each name, by version. */
  readonly acked = new Map<string, Acked>();

  constructor(
    readonly seed: number,
    options: Partial<RingOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.net = new DeterministicNetwork(seed, this.options.links);
  }

  /** Creates `n` node identities (not started). */
  create(n: number): NodeHandle[] {
    const made: NodeHandle[] = [];
    for (let i = 0; i < n; i++) {
      const index = this.handles.length;
      const handle = { id: this.net.rng.id(), address: `10.0.${index >> 8}.${index & 255}:7000`, name: `n${index}` };
      this.handles.push(handle);
      made.push(handle);
    }
    return made;
  }

  private config(handle: NodeHandle): OverlayConfig {
    const seeds = this.handles.slice(0, 3).map((h) => h.address);
    return {
      seeds,
      founder: handle.address === this.handles[0]!.address,
      leafSetSize: this.options.leafSetSize,
      neighborhoodSize: 16,
      maintenanceIntervalMs: this.options.maintenanceIntervalMs,
      rpcTimeoutMs: this.options.rpcTimeoutMs,
      partitionProbeIntervalMs: this.options.partitionProbeIntervalMs,
    };
  }

  /** Starts a node process (again, after a crash: with an empty memory store, as a restarted pod). */
  start(handle: NodeHandle): DetNode {
    const overlay = new Overlay(handle, this.net.env(handle.address), this.config(handle), SILENT);
    const store = new MemoryStore();
    const parts = assembleDht(
      overlay,
      store,
      {
        replicas: this.options.replicas,
        writeQuorum: this.options.writeQuorum,
        rpcTimeoutMs: this.options.rpcTimeoutMs,
        maxValueBytes: 1 << 20,
        antiEntropyIntervalMs: this.options.antiEntropyIntervalMs,
        tombstoneGraceMs: 600_000,
        scanPageObjects: this.options.scanPageObjects,
        entrySyncObjects: this.options.entrySyncObjects,
        pushWindowBytes: this.options.pushWindowBytes,
        repairsPerPeerPerRound: this.options.repairsPerPeerPerRound,
        capacityBytes: this.options.capacityBytes,
        cacheLeaseMs: this.options.cacheLeaseMs,
        cacheBytes: this.options.cacheBytes,
        diversion: this.options.diversion,
        nearestReplicaReads: this.options.nearestReplicaReads,
      },
      SILENT,
    );
    const files = assembleFiles(overlay, parts, { replicas: this.options.replicas, maxValueBytes: 1 << 20, rpcTimeoutMs: this.options.rpcTimeoutMs, fileCacheBytes: this.options.fileCacheBytes, hashesPerPage: this.options.hashesPerPage }, SILENT);
    const scribe = assembleScribe(overlay, parts.dht, { scribeMaxChildren: this.options.scribeMaxChildren ?? 24, scribeRetain: this.options.scribeRetain ?? 1000, scribeRefreshMs: this.options.scribeRefreshMs ?? 2000, rpcTimeoutMs: this.options.rpcTimeoutMs }, SILENT);
    this.net.attach(handle.address, (method, request, deadline) => overlay.handle(method, request, deadline));
    const node = { handle, overlay, parts, files, scribe, store };
    this.nodes.set(handle.address, node);
    void overlay.start().then(() => {
      if (this.nodes.get(handle.address) !== node || !overlay.ready) return;
      parts.antiEntropy.start();
      scribe.start();
    });
    return node;
  }

  crash(handle: NodeHandle): void {
    const node = this.nodes.get(handle.address);
    this.net.crash(handle.address);
    node?.overlay.stop();
    node?.scribe.stop();
    void node?.parts.antiEntropy.stop();
    this.nodes.delete(handle.address);
  }

  live(): DetNode[] {
    return [...this.nodes.values()].filter((n) => this.net.isAlive(n.handle.address));
  }

  /** Live nodes in one group (all of them when not partitioned). */
  liveIds(nodes: DetNode[] = this.live()): Id[] {
    return nodes.map((n) => n.handle.id);
  }

  /** The numerically closest live node: the key's true root. */
  trueRoot(key: Id, nodes: DetNode[] = this.live()): DetNode {
    let best = nodes[0]!;
    for (const n of nodes) if (compareCloseness(key, n.handle.id, best.handle.id) < 0) best = n;
    return best;
  }

  /** The k true replicas of a key among `nodes`. */
  trueReplicas(key: Id, nodes: DetNode[] = this.live()): DetNode[] {
    return [...nodes].sort((a, b) => compareCloseness(key, a.handle.id, b.handle.id)).slice(0, this.options.replicas);
  }

  /** Leaf-set errors: each node's sides must be exactly its nearest live neighbours among `nodes`. */
  leafSetErrors(nodes: DetNode[] = this.live()): string[] {
    const errors: string[] = [];
    const half = this.options.leafSetSize / 2;
    const ring = [...nodes].sort((a, b) => (a.handle.id < b.handle.id ? -1 : a.handle.id > b.handle.id ? 1 : 0));
    const n = ring.length;
    const take = Math.min(half, n - 1);
    ring.forEach((node, i) => {
      if (!node.overlay.ready) {
        errors.push(`${node.handle.name} not ready`);
        return;
      }
      const right = Array.from({ length: take }, (_, d) => ring[(i + d + 1) % n]!.handle.id);
      const left = Array.from({ length: take }, (_, d) => ring[(i - d - 1 + n) % n]!.handle.id);
      const ls = node.overlay.state.leafSet;
      const gotRight = ls.rightSide().map((x) => x.id);
      const gotLeft = ls.leftSide().map((x) => x.id);
      if (gotRight.join() !== right.join() || gotLeft.join() !== left.join()) errors.push(`${node.handle.name}: leaf set ${gotLeft.length}+${gotRight.length} differs from the true ${left.length}+${right.length}`);
    });
    return errors;
  }

  /** Runs until every leaf set is exact (checked every `stepMs`), at most `limitMs`. */
  async converge(limitMs: number, stepMs = 1000, nodes: () => DetNode[] = () => this.live()): Promise<string[]> {
    const until = this.net.now + limitMs;
    let errors = this.leafSetErrors(nodes());
    while (errors.length > 0 && this.net.now < until) {
      await this.net.runFor(stepMs);
      errors = this.leafSetErrors(nodes());
    }
    return errors;
  }

  /** Puts through `via`; an acknowledged write is recorded. */
  async put(via: DetNode, name: string, value: string, limitMs = 20_000): Promise<boolean> {
    const r = await this.net.settle(via.parts.dht.put(name, Buffer.from(value), this.net.now + 10_000), limitMs);
    if (!r.ok) return false;
    this.record({ name, guid: r.value.guid, value, version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: false });
    return true;
  }

  async remove(via: DetNode, name: string, limitMs = 20_000): Promise<boolean> {
    const r = await this.net.settle(via.parts.dht.remove({ guid: Buffer.alloc(0), name }, this.net.now + 10_000), limitMs);
    if (!r.ok) return false;
    this.record({ name, guid: r.value.guid, value: '', version: r.value.response.version, writer: r.value.response.root.id.toString('hex'), removed: true });
    return true;
  }

  private record(a: Acked): void {
    const prev = this.acked.get(a.name);
    // Two writes acknowledged on the two sides of a partition can share a version (the same
    // clock reading): the replicas keep the one with the higher writer, and so does this record.
    if (!prev || compareVersions({ ...a, tombstone: a.removed }, { ...prev, tombstone: prev.removed }) > 0) this.acked.set(a.name, a);
  }

  /** Routes `key` from `via`; the id of the node that delivered it, or an error. */
  async routeRoot(via: DetNode, key: Id): Promise<Id | Error> {
    const r = await this.net.settle(via.parts.dht.route({ guid: Buffer.from(key, 'hex'), name: '' }, this.net.now + 10_000), 20_000);
    if (!r.ok) return r.error as Error;
    return r.value.response.root.id.toString('hex');
  }

  /**
   * Acknowledged writes not held, at their version or newer, by each of their k true
   * replicas (read straight from the replicas' stores). Empty means nothing was lost.
   */
  async missingReplicas(nodes: DetNode[] = this.live()): Promise<string[]> {
    const problems: string[] = [];
    for (const a of this.acked.values()) {
      let salted: Id | undefined;
      for (const r of this.trueReplicas(a.guid, nodes)) {
        let copy = await r.store.get(a.guid);
        // A redirect at this version stands for the diverted file, checked below.
        if (copy?.redirect && !copy.tombstone && copy.version >= a.version) {
          if (copy.version === a.version) salted = copy.redirect;
          continue;
        }
        // A diversion pointer counts as the copy its holder, a live node, has.
        if (copy?.divertedTo) {
          const holder = this.live().find((n) => n.handle.id === copy!.divertedTo);
          const held = await holder?.store.get(a.guid);
          copy = held && !held.divertedTo && held.version === copy.version ? held : undefined;
        }
        if (!copy || copy.version < a.version) problems.push(`${a.name} (v${a.version}) missing on ${r.handle.name}${copy ? ` (has v${copy.version})` : ''}`);
        else if (copy.version === a.version && (copy.tombstone !== a.removed || (!a.removed && copy.value.toString() !== a.value))) problems.push(`${a.name} differs on ${r.handle.name}`);
      }
      // A diverted file: on the k replicas of its salted GUID.
      if (salted) {
        const at = salted;
        const held = await Promise.all(this.trueReplicas(at, nodes).map((n) => n.store.get(at)));
        for (const h of held) if (!h || h.tombstone || (!h.divertedTo && h.value.toString() !== a.value)) problems.push(`${a.name} (v${a.version}) diverted to ${at}: a copy missing there`);
      }
    }
    return problems;
  }

  /** Reads every acknowledged write back through random live nodes. */
  async lostReads(samples = this.acked.size): Promise<string[]> {
    const problems: string[] = [];
    const live = this.live();
    const all = [...this.acked.values()];
    for (let i = 0; i < Math.min(samples, all.length); i++) {
      const a = all[i]!;
      const via = live[this.net.rng.int(live.length)]!;
      const r = await this.net.settle(via.parts.dht.get({ guid: Buffer.from(a.guid, 'hex'), name: '' }, this.net.now + 10_000), 20_000);
      if (a.removed) {
        // A read may see a later write that was not acknowledged (it may still have landed).
        if (r.ok && r.value.response.version <= a.version) problems.push(`${a.name} was removed at v${a.version} but reads v${r.value.response.version}`);
      } else if (!r.ok) problems.push(`${a.name}: ${String(r.error)}`);
      else if (r.value.response.version < a.version) problems.push(`${a.name}: read v${r.value.response.version}, acknowledged v${a.version}`);
      else if (r.value.response.version === a.version && r.value.response.value.toString() !== a.value) problems.push(`${a.name}: wrong value`);
    }
    return problems;
  }

  /** Nodes whose own view of a key's replicas disagrees with the truth (for diagnostics). */
  replicaViewErrors(key: Id): string[] {
    const truth = this.trueReplicas(key).map((n) => n.handle.id).join();
    return this.trueReplicas(key)
      .filter((n) => replicaSet(n.overlay.state, key, this.options.replicas).map((h) => h.id).join() !== truth)
      .map((n) => n.handle.name);
  }
}

/** Prints the seed on failure, so that the run can be replayed with PASTRY_SEED. */
export function seedFromEnv(fallback: number): number {
  const s = process.env.PASTRY_SEED;
  return s ? Number(s) : fallback;
}

/** Nodes on a plane: one-way delay is the distance (ms), as in the simulator's model. */
export function planeDelays(seed: number): (from: string, to: string) => number {
  const rng = new Rng(seed ^ 0x5eed);
  const at = new Map<string, [number, number]>();
  const place = (a: string): [number, number] => {
    let p = at.get(a);
    if (!p) at.set(a, (p = [rng.float() * 200, rng.float() * 200]));
    return p;
  };
  return (from, to) => {
    const [x1, y1] = place(from);
    const [x2, y2] = place(to);
    return 1 + Math.hypot(x1 - x2, y1 - y2);
  };
}

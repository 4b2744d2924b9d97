/**
 * Storage at scale on a local ring (`make bench-storage`): loads N objects straight onto
 * their k replicas, then measures idle CPU and memory per node, the repair of a node killed
 * and restarted empty, and a graceful leave, checking at the end, object by object, that
 * every object is on its k live replicas.
 *
 *   node dist/bench/storage-scale.js [--objects 300000] [--nodes 4] [--storage memory|redis]
 *        [--value-bytes 64] [--idle-seconds 20] [--timeout-seconds 1800]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { cpuSecondsOf, rssBytesOf } from './proc';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fromBigInt, RING_SIZE, toBigInt, type Id } from '../services/node/src/core/id';
import { guidForName } from '../services/node/src/dht/guid';
import { clusterDown, clusterUp, readState, startPod, waitForExit, type ClusterOptions } from '../services/cli/src/cluster';
import type { ObjectRecord } from '../services/node/src/gen/pastry/v1/dht_peer';
import { dhtPeerCall } from '../services/cli/src/dht-peer';
import { walkRing } from '../services/cli/src/ring';

const K = 3;

export interface ScaleOptions {
  objects: number;
  nodes: number;
  storage: string;
  valueBytes: number;
  idleSeconds: number;
  /** How long the refill of the restarted node may take. */
  timeoutMs: number;
  subnet: string;
  port: number;
  metricsPort: number;
}

export interface ScaleResult {
  loadPerSecond: number;
  /** Share of a core each node used while idle. */
  idleCpu: number[];
  /** Node RSS growth per stored object beyond its value bytes. */
  rssPerObject: number[];
  /** `held`: the live objects the leaver (the node holding the most) had before it left. */
  leave: { seconds: number; settled: boolean; short: number; held: number };
  restart: { seconds: number; refilled: boolean; repairedPerSecond: number; short: number };
}

interface Member {
  name: string;
  id: Id;
  address: string;
  pid: number;
}

function replicasOf(guid: Id, members: Member[]): Member[] {
  const key = toBigInt(guid);
  const ranked = members.map((m) => {
    const d = (toBigInt(m.id) - key + RING_SIZE) % RING_SIZE;
    return { m, d: d < RING_SIZE - d ? d : RING_SIZE - d };
  });
  ranked.sort((a, b) => (a.d !== b.d ? (a.d < b.d ? -1 : 1) : a.m.id < b.m.id ? -1 : 1));
  return ranked.slice(0, K).map((r) => r.m);
}

function valueOf(i: number, bytes: number): Buffer {
  const seed = createHash('sha256').update(`bench-value-${i}`).digest();
  return Buffer.concat(Array.from({ length: Math.ceil(bytes / 32) }, () => seed)).subarray(0, bytes);
}

const MESSAGE_BYTES = 4 * 1024 * 1024;

/** Loads every object onto its replicas with StoreReplicas, 256 (or 4 MiB) a message, 16 messages at a time. */
async function load(members: Member[], objects: number, valueBytes: number): Promise<number> {
  const t0 = Date.now();
  const writer = members[0]!.id;
  const queue: { address: string; records: ObjectRecord[] }[] = [];
  const pending = new Map<string, ObjectRecord[]>();
  let inFlight: Promise<void>[] = [];
  const flush = async (address: string): Promise<void> => {
    const records = pending.get(address)!;
    pending.set(address, []);
    if (records.length > 0) queue.push({ address, records });
    while (queue.length > 0) {
      const job = queue.shift()!;
      inFlight.push(dhtPeerCall(job.address, 'storeReplicas', { sender: undefined, objects: job.records, diverted: false, senderKeeps: false, senderLeavingMs: 0 }, 60_000).then(() => undefined));
      if (inFlight.length >= 16) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
  };
  for (const m of members) pending.set(m.address, []);
  for (let i = 0; i < objects; i++) {
    const guid = guidForName(`bench-${i}`);
    const value = valueOf(i, valueBytes);
    const record: ObjectRecord = { guid: Buffer.from(guid, 'hex'), value, version: 1, writer: Buffer.from(writer, 'hex'), hash: createHash('sha256').update(value).digest('hex'), size: value.length, createdAtMs: Date.now(), tombstone: false, contentAddressed: false, redirect: Buffer.alloc(0), divertedFrom: Buffer.alloc(0) };
    for (const r of replicasOf(guid, members)) {
      const list = pending.get(r.address)!;
      list.push(record);
      // Large values: a message stays within what a peer call carries.
      if (list.length >= 256 || list.reduce((a, o) => a + o.value.length, 0) >= MESSAGE_BYTES) await flush(r.address);
    }
    if (i > 0 && i % 100_000 === 0) process.stderr.write(`  loaded ${i} objects (${Math.round(i / ((Date.now() - t0) / 1000))}/s)\n`);
  }
  for (const m of members) await flush(m.address);
  await Promise.all(inFlight);
  return objects / ((Date.now() - t0) / 1000);
}


/** Share of one core each process used over `seconds`. */
async function idleCpu(pids: number[], seconds: number): Promise<number[]> {
  const before = pids.map((p) => cpuSecondsOf(p));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return pids.map((p, i) => (cpuSecondsOf(p) - before[i]!) / seconds);
}

/** Every GUID a node stores, paged through ListObjects. */
async function guidsOn(address: string): Promise<Set<Id>> {
  const out = new Set<Id>();
  let from = '0'.repeat(32);
  for (;;) {
    const res = await dhtPeerCall(address, 'listObjects', { from: Buffer.from(from, 'hex'), to: Buffer.from('f'.repeat(32), 'hex'), limit: 10_000, includeTombstones: false }, 60_000);
    for (const o of res.objects) out.add(o.guid.toString('hex'));
    const last = res.objects[res.objects.length - 1]?.guid.toString('hex');
    if (!res.truncated || !last || last === 'f'.repeat(32)) return out;
    from = fromBigInt(toBigInt(res.objects[res.objects.length - 1]!.guid.toString('hex')) + 1n);
  }
}

/** Counted, not sampled: the objects not on each of their k live replicas. */
async function shortOfReplicas(members: Member[], objects: number): Promise<number> {
  const held = new Map<string, Set<Id>>();
  for (const m of members) held.set(m.address, await guidsOn(m.address));
  let short = 0;
  for (let i = 0; i < objects; i++) {
    const guid = guidForName(`bench-${i}`);
    if (!replicasOf(guid, members).every((r) => held.get(r.address)!.has(guid))) short++;
  }
  return short;
}

/** Waits until each member's live object count is what its replica share says. */
async function waitForCounts(members: Member[], objects: number, deadline: number): Promise<boolean> {
  const expected = new Map<string, number>(members.map((m) => [m.id, 0]));
  for (let i = 0; i < objects; i++) for (const r of replicasOf(guidForName(`bench-${i}`), members)) expected.set(r.id, expected.get(r.id)! + 1);
  while (Date.now() < deadline) {
    const ring = await walkRing(members[0]!.address).catch(() => []);
    if (members.every((m) => ring.find((r) => r.id === m.id)?.objects === expected.get(m.id))) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

/**
 * Loads the objects, measures an idle ring, then the repro of a graceful stop followed by a
 * kill -9 and an empty restart, each checked object by object. Stops every process it
 * started, whatever happens.
 */
export async function runStorageScale(o: ScaleOptions, progress: (line: string) => void = () => undefined): Promise<ScaleResult> {
  const runDir = mkdtempSync(path.join(tmpdir(), 'pastry-storage-scale-'));
  running.add(runDir);
  const options: ClusterOptions = { runDir, port: o.port, metricsPort: o.metricsPort, storage: o.storage, subnet: o.subnet };
  try {
    // A graceful leave hands every object over before the process must exit: a node holding
    // millions needs minutes (about 10,000 objects a second), as a pod needs its grace period.
    const graceMs = Math.max(20_000, Math.ceil((o.objects * Math.min(K, o.nodes)) / o.nodes / 4_000) * 1000);
    const env = { ...process.env, PASTRY_SHUTDOWN_GRACE_MS: String(process.env.PASTRY_SHUTDOWN_GRACE_MS ?? graceMs) };
    const state = await clusterUp(o.nodes, options, 120_000, env);
    let members: Member[] = state.pods.map((p) => ({ name: p.name, id: p.id, address: p.address, pid: p.pid }));
    const rssBefore = members.map((m) => rssBytesOf(m.pid));
    const loadPerSecond = await load(members, o.objects, o.valueBytes);
    progress(`loaded ${o.objects} objects (${loadPerSecond.toFixed(0)}/s)`);
    if (!(await waitForCounts(members, o.objects, Date.now() + 120_000))) throw new Error('the loaded counts never matched');
    const perNode = (o.objects * Math.min(K, o.nodes)) / o.nodes;
    // One anti-entropy round first, so the idle figure is the steady state.
    await new Promise((r) => setTimeout(r, 10_000));
    const idle = await idleCpu(members.map((m) => m.pid), o.idleSeconds);
    const rssPerObject = members.map((m, i) => (rssBytesOf(m.pid) - rssBefore[i]!) / perNode - o.valueBytes);
    progress(`idle CPU ${idle.map((c) => (c * 100).toFixed(1) + '%').join(' ')}`);

    // The repro: a graceful stop of the pod holding the most...
    const before = await walkRing(members[0]!.address);
    const most = [...before].sort((a, b) => b.objects - a.objects)[0]!;
    const leaver = readState(runDir)!.pods.find((p) => p.name === most.name)!;
    const t1 = Date.now();
    process.kill(leaver.pid, 'SIGTERM');
    await waitForExit([leaver.pid], Number(env.PASTRY_SHUTDOWN_GRACE_MS) + 30_000);
    const leaveSeconds = (Date.now() - t1) / 1000;
    members = members.filter((m) => m.name !== leaver.name);
    const settled = await waitForCounts(members, o.objects, Date.now() + 120_000);
    const leaveShort = await shortOfReplicas(members, o.objects);
    progress(`graceful leave: ${leaveShort} objects short of ${K} live replicas`);

    // ...then a kill -9 of another, restarted with an empty store (and an empty Redis).
    const victim = readState(runDir)!.pods.find((p) => p.name !== leaver.name)!;
    process.kill(victim.pid, 'SIGKILL');
    if (victim.redis) process.kill(victim.redis.pid, 'SIGKILL');
    // A Redis of millions of objects takes a while to die; its successor must find the port free.
    const lingering = await waitForExit([victim.pid, ...(victim.redis ? [victim.redis.pid] : [])], 120_000);
    if (lingering.length > 0) throw new Error(`pids ${lingering.join(', ')} still running 120 s after kill -9`);
    if (victim.redis) await waitForClosed(victim.redis.address, Date.now() + 60_000);
    const t0 = Date.now();
    const again = startPod(readState(runDir)!, victim.ordinal, options, env);
    members = members.map((m) => (m.name === again.name ? { ...m, pid: again.pid } : m));
    const refilled = await waitForCounts(members, o.objects, Date.now() + o.timeoutMs);
    const seconds = (Date.now() - t0) / 1000;
    const held = (await walkRing(members[0]!.address)).find((r) => r.name === again.name)?.objects ?? 0;
    const restartShort = await shortOfReplicas(members, o.objects);
    progress(`kill -9 and empty restart: ${restartShort} objects short of ${K} replicas`);
    return {
      loadPerSecond,
      idleCpu: idle,
      rssPerObject,
      leave: { seconds: leaveSeconds, settled, short: leaveShort, held: most.objects },
      restart: { seconds, refilled, repairedPerSecond: held / seconds, short: restartShort },
    };
  } finally {
    await clusterDown(runDir, 10_000).catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
    running.delete(runDir);
  }
}

/** Waits until nothing listens at `address` (host:port) any more. */
async function waitForClosed(address: string, deadline: number): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${address} still accepts connections`);
}

const running = new Set<string>();

/** Stops the rings of runs still going: for a signal handler, which skips their finally blocks. */
export async function stopRunning(): Promise<void> {
  await Promise.all([...running].map((dir) => clusterDown(dir, 10_000).catch(() => undefined)));
  for (const dir of running) rmSync(dir, { recursive: true, force: true });
}

/**
 * Storage at scale on a local ring (`make bench-storage`): loads N objects straight onto
 * their k replicas, then measures idle CPU and memory per node, the repair of a node killed
 * and restarted empty, and a graceful leave, checking at the end, object by object, that
 * every object is on its k live replicas.
 *
 *   node dist/bench/storage-scale.js [--objects 300000] [--nodes 4] [--storage memory|redis]
 *        [--value-bytes 64] [--idle-seconds 20] [--timeout-seconds 1800]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const OBJECTS = Number(flag('objects', '300000'));
const NODES = Number(flag('nodes', '4'));
const STORAGE = flag('storage', 'memory');
const VALUE_BYTES = Number(flag('value-bytes', '64'));
const IDLE_SECONDS = Number(flag('idle-seconds', '20'));
const TIMEOUT_MS = Number(flag('timeout-seconds', '1800')) * 1000;

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

function valueOf(i: number): Buffer {
  const seed = createHash('sha256').update(`bench-value-${i}`).digest();
  return Buffer.concat(Array.from({ length: Math.ceil(VALUE_BYTES / 32) }, () => seed)).subarray(0, VALUE_BYTES);
}

/** Loads every object onto its replicas with StoreReplicas, 256 a message, 16 messages at a time. */
async function load(members: Member[]): Promise<number> {
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
      inFlight.push(dhtPeerCall(job.address, 'storeReplicas', { sender: undefined, objects: job.records }, 60_000).then(() => undefined));
      if (inFlight.length >= 16) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
  };
  for (const m of members) pending.set(m.address, []);
  for (let i = 0; i < OBJECTS; i++) {
    const guid = guidForName(`bench-${i}`);
    const value = valueOf(i);
    const record: ObjectRecord = { guid: Buffer.from(guid, 'hex'), value, version: 1, writer: Buffer.from(writer, 'hex'), hash: createHash('sha256').update(value).digest('hex'), size: value.length, createdAtMs: Date.now(), tombstone: false, contentAddressed: false };
    for (const r of replicasOf(guid, members)) {
      const list = pending.get(r.address)!;
      list.push(record);
      if (list.length >= 256) await flush(r.address);
    }
    if (i > 0 && i % 100_000 === 0) process.stderr.write(`  loaded ${i} objects (${Math.round(i / ((Date.now() - t0) / 1000))}/s)\n`);
  }
  for (const m of members) await flush(m.address);
  await Promise.all(inFlight);
  return OBJECTS / ((Date.now() - t0) / 1000);
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) * 1024;
}

/** Share of one core each process used over `seconds`. */
async function idleCpu(pids: number[], seconds: number): Promise<number[]> {
  const before = pids.map(cpuTicks);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return pids.map((p, i) => (cpuTicks(p) - before[i]!) / 100 / seconds);
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
async function shortOfReplicas(members: Member[]): Promise<number> {
  const held = new Map<string, Set<Id>>();
  for (const m of members) held.set(m.address, await guidsOn(m.address));
  let short = 0;
  for (let i = 0; i < OBJECTS; i++) {
    const guid = guidForName(`bench-${i}`);
    if (!replicasOf(guid, members).every((r) => held.get(r.address)!.has(guid))) short++;
  }
  return short;
}

/** Waits until each member's live object count is what its replica share says. */
async function waitForCounts(members: Member[], deadline: number): Promise<boolean> {
  const expected = new Map<string, number>(members.map((m) => [m.id, 0]));
  for (let i = 0; i < OBJECTS; i++) for (const r of replicasOf(guidForName(`bench-${i}`), members)) expected.set(r.id, expected.get(r.id)! + 1);
  while (Date.now() < deadline) {
    const ring = await walkRing(members[0]!.address).catch(() => []);
    if (members.every((m) => ring.find((r) => r.id === m.id)?.objects === expected.get(m.id))) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

async function main(): Promise<void> {
  const runDir = mkdtempSync(path.join(tmpdir(), 'pastry-storage-bench-'));
  const options: ClusterOptions = { runDir, port: 7300, metricsPort: 9700, storage: STORAGE, subnet: '127.0.41' };
  const rows: [string, string][] = [];
  const started = Date.now();
  try {
    const state = await clusterUp(NODES, options, 120_000);
    let members: Member[] = state.pods.map((p) => ({ name: p.name, id: p.id, address: p.address, pid: p.pid }));
    const rssBefore = members.map((m) => rssBytes(m.pid));
    const rate = await load(members);
    rows.push(['load (StoreReplicas, objects/s)', rate.toFixed(0)]);
    if (!(await waitForCounts(members, Date.now() + 120_000))) throw new Error('the loaded counts never matched');
    const perNode = (OBJECTS * K) / NODES;
    // One anti-entropy round first, so the idle figure is the steady state.
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu = await idleCpu(members.map((m) => m.pid), IDLE_SECONDS);
    rows.push([`idle CPU per node, ${IDLE_SECONDS} s (share of a core)`, cpu.map((c) => `${(c * 100).toFixed(1)}%`).join(' ')]);
    const rss = members.map((m, i) => rssBytes(m.pid) - rssBefore[i]!);
    rows.push(['node RSS growth per stored object (bytes, beyond the value)', rss.map((b) => (b / perNode - VALUE_BYTES).toFixed(0)).join(' ')]);

    // kill -9 one pod and restart it empty (its Redis too).
    const victim = state.pods[1]!;
    process.kill(victim.pid, 'SIGKILL');
    if (victim.redis) process.kill(victim.redis.pid, 'SIGKILL');
    await waitForExit([victim.pid, ...(victim.redis ? [victim.redis.pid] : [])], 10_000);
    const t0 = Date.now();
    const again = startPod(readState(runDir)!, victim.ordinal, options);
    members = members.map((m) => (m.name === again.name ? { ...m, pid: again.pid } : m));
    const repaired = await waitForCounts(members, Date.now() + TIMEOUT_MS);
    const seconds = (Date.now() - t0) / 1000;
    const refill = members.find((m) => m.name === again.name)!;
    const refilled = (await walkRing(members[0]!.address)).find((r) => r.id === refill.id)?.objects ?? 0;
    rows.push(['kill -9 and restart empty: time until every count is whole (s)', repaired ? seconds.toFixed(1) : `not within ${TIMEOUT_MS / 1000}`]);
    rows.push(['  objects repaired per second', (refilled / seconds).toFixed(0)]);
    rows.push(['  objects short of k replicas after it (counted)', String(await shortOfReplicas(members))]);

    // A graceful leave of another pod.
    const leaver = readState(runDir)!.pods[2]!;
    const t1 = Date.now();
    process.kill(leaver.pid, 'SIGTERM');
    await waitForExit([leaver.pid], 120_000);
    rows.push(['graceful leave (SIGTERM to exit, s)', ((Date.now() - t1) / 1000).toFixed(1)]);
    members = members.filter((m) => m.name !== leaver.name);
    const settled = await waitForCounts(members, Date.now() + 120_000);
    rows.push(['  objects short of k live replicas after it (counted)', String(await shortOfReplicas(members)) + (settled ? '' : ' (counts never settled)')]);
  } finally {
    await clusterDown(runDir, 10_000).catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
  }
  console.log(`\nstorage at scale: ${NODES} nodes, ${STORAGE} store, ${OBJECTS} objects of ${VALUE_BYTES} bytes, k = ${K} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

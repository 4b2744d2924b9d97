/**
 * The systems under test behind one small interface, so that every benchmark loop treats them
 * alike: `put(i, key, value)` and `get(i, key)` resolve to `{ hops }` (forwarding hops for our
 * ring, peers that answered for kad-dht and hyperdht, undefined for the floors); `i` picks the
 * entry node.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBuild } from './build.mjs';
import { HyperCluster } from './hyperdht-cluster.mjs';
import { KadCluster } from './kad-cluster.mjs';
import { killQuietly, rssMiB, signalAll, waitForExit } from './proc.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const Redis = require('ioredis');

const { cluster, client } = loadBuild();

// Every system this benchmark starts, until it has stopped, so that any exit (error, Ctrl-C)
// can stop it; after stopEverything() begins, nothing new may start.
const started = new Set();
let closing = false;

/** Synchronous last resort on process exit: SIGKILL whatever is still running. */
export function killEverythingNow() {
  for (const s of started) s.killNow();
}

/** Stops everything still running, politely first. Safe to call more than once. */
export async function stopEverything() {
  closing = true;
  await Promise.all(
    [...started].map((s) =>
      s.stop().catch((error) => {
        process.stderr.write(`cleanup of ${s.label}: ${error.message}\n`);
      }),
    ),
  );
}

/** Registers a system; its stop() becomes idempotent and untracks it once it has finished. */
function track(system) {
  if (closing) throw new Error('the benchmark is stopping');
  const stop = system.stop;
  let stopping;
  system.stop = () =>
    (stopping ??= (async () => {
      try {
        await stop();
      } finally {
        started.delete(system);
      }
    })());
  started.add(system);
  return system;
}

function waitForLine(child, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms: ${out}`)), timeoutMs);
    const onData = (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${out.trim()}`));
    });
  });
}

/** The floor of an RPC: a bare grpc-js unary echo in its own process. */
export async function startGrpcFloor(host) {
  const { ECHO_SERVICE } = await import('../echo-server.mjs');
  const child = spawn(process.execPath, [fileURLToPath(new URL('../echo-server.mjs', import.meta.url)), host], { stdio: ['ignore', 'pipe', 'pipe'] });
  const system = track({
    label: 'gRPC echo',
    pids: () => [child.pid],
    killNow: () => killQuietly(child.pid),
    stop: async () => {
      system.client?.close();
      killQuietly(child.pid, 'SIGTERM');
      if ((await waitForExit([child.pid], 3_000)).length > 0) killQuietly(child.pid);
    },
  });
  const [, address] = await waitForLine(child, /listening (\S+)\n/, 15_000, 'the gRPC echo server');
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  system.client = new Client(address, grpc.credentials.createInsecure());
  const echo = (value) =>
    new Promise((resolve, reject) =>
      system.client.echo(value, { deadline: Date.now() + 10_000 }, (error, res) => (error ? reject(error) : res.length === value.length ? resolve({}) : reject(new Error('short echo')))),
    );
  system.put = (_i, _key, value) => echo(value);
  system.get = (_i, _key, value) => echo(value);
  system.address = address;
  return system;
}

/** The floor of a store access: GET/SET on a redis-server of our own. */
export async function startRedisFloor(host, port) {
  const child = spawn('redis-server', ['--bind', host, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('error', () => {}); // reported through waitForLine's exit
  const system = track({
    label: 'Redis',
    pids: () => [child.pid],
    killNow: () => killQuietly(child.pid),
    stop: async () => {
      system.redis?.disconnect();
      killQuietly(child.pid, 'SIGTERM');
      if ((await waitForExit([child.pid], 3_000)).length > 0) killQuietly(child.pid);
    },
  });
  await waitForLine(child, /Ready to accept connections/, 15_000, `redis-server on ${host}:${port}`);
  system.redis = new Redis({ host, port, maxRetriesPerRequest: 1, lazyConnect: false });
  await system.redis.ping();
  system.put = async (_i, key, value) => {
    await system.redis.set(key, value);
    return {};
  };
  system.get = async (_i, key) => {
    const v = await system.redis.getBuffer(key);
    if (v === null) throw new Error(`missing ${key}`);
    return {};
  };
  return system;
}

/** Our ring: n node processes (and Redis sidecars with storage 'redis'), one client per pod. */
export async function startRing(label, n, options, timeoutMs, extraEnv = {}) {
  if (closing) throw new Error('the benchmark is stopping');
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-bench-run-'));
  // The state file while the ring starts and runs; the pods we know once it is gone.
  const killNow = () => {
    const state = cluster.readState(runDir);
    for (const p of state?.pods ?? system.pods ?? []) {
      killQuietly(p.pid);
      if (p.redis) killQuietly(p.redis.pid);
    }
  };
  const system = track({
    label,
    runDir,
    clients: [],
    killNow,
    stop: async () => {
      system.clients.forEach((c) => c.close());
      system.resume?.();
      try {
        await cluster.clusterDown(runDir, 3_000);
      } finally {
        killNow();
        rmSync(runDir, { recursive: true, force: true });
      }
    },
  });
  const env = { ...process.env, PASTRY_LOG_LEVEL: 'warn', OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'none', ...extraEnv };
  const t0 = performance.now();
  const clusterOptions = { ...cluster.DEFAULT_CLUSTER, ...options, runDir };
  const state = await cluster.clusterUp(n, clusterOptions, timeoutMs, env);
  system.readyMs = performance.now() - t0;
  system.pods = state.pods;
  system.clients = state.pods.map((p) => new client.PastryClient(p.address, 10_000));
  const at = (i) => system.clients[i % system.clients.length];
  system.put = async (i, key, value) => ({ hops: (await at(i).put(key, value)).hops.length });
  system.get = async (i, key) => {
    const res = await at(i).get(key);
    if (!res.value || res.value.length === 0) throw new Error(`empty value for ${key}`);
    return { hops: res.hops.length };
  };
  system.route = async (i, key) => (await at(i).route(key)).hops.length;
  system.rss = () => ({ nodes: state.pods.map((p) => rssMiB(p.pid)), sidecars: state.pods.filter((p) => p.redis).map((p) => rssMiB(p.redis.pid)) });
  system.nodePids = () => state.pods.map((p) => p.pid);
  /**
   * One more pod joins the running ring: ms from its spawn until it reports ready (joined),
   * and until every leaf set of the ring is exact again.
   */
  system.join = async (joinTimeoutMs) => {
    const ordinal = Math.max(...state.pods.map((p) => p.ordinal)) + 1;
    const t = performance.now();
    const pod = cluster.startPod(state, ordinal, clusterOptions, env);
    let readyMs;
    while (readyMs === undefined) {
      if (performance.now() - t > joinTimeoutMs) throw new Error(`${pod.name} was not ready within ${joinTimeoutMs} ms`);
      // A fresh client each time: a grpc-js channel refused before the node listens waits out
      // its reconnect backoff (about a second), which is not the node's join.
      const c = new client.PastryClient(pod.address, 1_000);
      const st = await c.status(1_000).catch(() => undefined);
      c.close();
      if (st?.ready) readyMs = performance.now() - t;
      else await new Promise((r) => setTimeout(r, 10));
    }
    const running = state.pods.filter((p) => cluster.isRunning(p.pid));
    while ((await cluster.ringProblem(running, state.leafSetSize)) !== '') {
      if (performance.now() - t > joinTimeoutMs) throw new Error(`the ring was not exact within ${joinTimeoutMs} ms of ${pod.name}'s start`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { name: pod.name, readyMs, exactMs: performance.now() - t };
  };
  const allPids = () => state.pods.flatMap((p) => [p.pid, ...(p.redis ? [p.redis.pid] : [])]);
  system.pids = allPids;
  system.pause = () => signalAll(allPids(), 'SIGSTOP');
  system.resume = () => signalAll(allPids(), 'SIGCONT');
  return system;
}

/**
 * A peer DHT of n node processes driven over IPC (IpcCluster): `hops` is the peers that
 * answered. A hyperdht get needs the value's size to find its immutable record (see
 * hyperdht-node.mjs), taken from `value` when given, else from the put of that key.
 */
async function startIpcPeer(label, cluster, n, timeoutMs) {
  const system = track({
    label,
    killNow: () => cluster.killNow(),
    stop: async () => {
      system.resume?.();
      await cluster.down();
    },
  });
  const { readyMs, tableSizes, settled } = await cluster.up(n, timeoutMs);
  system.readyMs = readyMs;
  system.tableSizes = tableSizes;
  system.settled = settled;
  const at = (i) => cluster.nodes[i % cluster.nodes.length];
  system.put = async (i, key, value) => ({ hops: (await at(i).put(key, value.length)).rpcs });
  system.get = async (i, key, value) => ({ hops: (await at(i).get(key, value?.length)).rpcs });
  system.rss = () => ({ nodes: cluster.pids.map(rssMiB), sidecars: [] });
  system.nodePids = () => cluster.pids;
  system.pids = () => cluster.pids;
  system.pause = () => signalAll(cluster.pids, 'SIGSTOP');
  system.resume = () => signalAll(cluster.pids, 'SIGCONT');
  return system;
}

/** The peer: n js-libp2p kad-dht nodes, one process each. */
export function startKad(n, timeoutMs) {
  return startIpcPeer('kad-dht', new KadCluster(), n, timeoutMs);
}

/** The second peer: n Hyperswarm DHT (hyperdht) nodes, one process each, UDP on 127.0.0.1. */
export function startHyperdht(n, timeoutMs) {
  return startIpcPeer('hyperdht', new HyperCluster(), n, timeoutMs);
}

import { ID_SCHEMES, nodeIdFor, type IdScheme } from '../../node/src/node-id';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PastryClient } from './client';
import type { StatusResponse } from '../../node/src/gen/pastry/v1/dht';
import { leafSetErrors, walkRing } from './ring';
import { which } from './netns/exec';
import type { PodDelay } from './netns/faults';
import { checkNetnsPrerequisites, ensureBridge, ensurePodNamespace, networkFor, teardownNetwork, validateNetnsSubnet, type NetnsNetwork } from './netns/network';

/** One local "pod": a node process with its own loopback address, as in a StatefulSet. */
export interface Pod {
  name: string;
  ordinal: number;
  host: string;
  port: number;
  metricsPort: number;
  address: string;
  id: string;
  pid: number;
  /** The Redis sidecar, with --storage redis. */
  redis?: { address: string; pid: number };
  /** With --netns: the pod's network namespace, and the delay `cluster delay` gave it. */
  netns?: string;
  delay?: PodDelay;
}

export interface ClusterState {
  pods: Pod[];
  /** Distinct loopback addresses, 127.0.0.1 with distinct ports, or a network namespace per pod. */
  mode: 'loopback-addresses' | 'ports' | 'netns';
  /** With --netns: the bridge, guard chain, subnet and partitions of the ring. */
  network?: NetnsNetwork;
  leafSetSize: number;
  storage: string;
  /** How pod ids follow from pod names (PASTRY_ID_SCHEME); absent in rings made before it: name. */
  idScheme?: IdScheme;
  /** Layout the ring was created with; scaling up reuses it. */
  subnet: string;
  port: number;
  metricsPort: number;
}

export interface ClusterOptions {
  runDir: string;
  port: number;
  metricsPort: number;
  storage: string;
  /** Pods get <subnet>.1, <subnet>.2, ... */
  subnet: string;
  /** Each pod in its own network namespace on a bridge (needs root). */
  netns?: boolean;
  /** Pod ids: SHA-256 of the name (default), or ordinals spread evenly over the ring. */
  idScheme?: IdScheme;
}

export const DEFAULT_CLUSTER: ClusterOptions = { runDir: '.pastry', port: 7000, metricsPort: 9464, storage: 'memory', subnet: '127.0.10' };

/**
 * The compiled node next to the compiled CLI; from sources (tests), the build in dist/. Its
 * entry point, start.js, loads the node's bundle through V8's code cache (main.js without one).
 */
const NODE_MAIN = [path.resolve(__dirname, '../../node/src/start.js'), path.resolve(__dirname, '../../../dist/services/node/src/start.js')].find(existsSync) ?? path.resolve(__dirname, '../../node/src/start.js');

export function statePath(runDir: string): string {
  return path.join(runDir, 'cluster.json');
}

export function readState(runDir: string): ClusterState | undefined {
  const file = statePath(runDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
}

export function writeState(runDir: string, state: ClusterState): void {
  mkdirSync(runDir, { recursive: true });
  const tmp = statePath(runDir) + '.tmp';
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, statePath(runDir));
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed pod whose parent is gone may linger as a zombie where nothing reaps orphans
  // (as in some containers): signal 0 still succeeds, but it is dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Whether 127.0.10.x can be bound here (Linux routes all of 127/8 to lo; others may not). */
export async function canBindLoopbackRange(subnet: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, `${subnet}.254`, () => server.close(() => resolve(true)));
  });
}

function podLayout(mode: ClusterState['mode'], ordinal: number, options: ClusterOptions): Omit<Pod, 'pid' | 'id'> {
  const name = `pastry-${ordinal}`;
  const own = mode !== 'ports';
  const host = own ? `${options.subnet}.${ordinal + 1}` : '127.0.0.1';
  const port = own ? options.port : options.port + ordinal;
  const metricsPort = own ? options.metricsPort : options.metricsPort + ordinal;
  return { name, ordinal, host, port, metricsPort, address: `${host}:${port}` };
}

function seedsFor(mode: ClusterState['mode'], options: ClusterOptions): string {
  return [0, 1, 2].map((i) => podLayout(mode, i, options).address).join(',');
}

const REDIS_PORT = 6379;

/** The command line that runs `file args` in the pod's namespace (as is, without one). */
function inNamespace(ns: string | undefined, file: string, args: string[]): [string, string[]] {
  return ns ? [which('ip') ?? 'ip', ['netns', 'exec', ns, file, ...args]] : [file, args];
}

/** Whether redis-server is on PATH; the message says how to get it. */
export function checkRedisInstalled(): void {
  const found = (process.env.PATH ?? '').split(path.delimiter).some((d) => existsSync(path.join(d, 'redis-server')));
  if (!found) throw new Error('redis-server is not installed: run `sudo apt-get install redis-server` (Debian/Ubuntu), or use --storage memory');
}

/** The pod's Redis sidecar: bound to the pod's own address, no persistence, as in the chart. */
function startSidecar(state: ClusterState, layout: Pick<Pod, 'name' | 'host' | 'ordinal' | 'netns'>, logDir: string): { address: string; pid: number } {
  const port = state.mode === 'ports' ? REDIS_PORT + layout.ordinal : REDIS_PORT;
  const log = openSync(path.join(logDir, `${layout.name}-redis.log`), 'a');
  const [file, args] = inNamespace(layout.netns, 'redis-server', ['--bind', layout.host, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no']);
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  return { address: `${layout.host}:${port}`, pid: child.pid ?? -1 };
}

/** Starts one pod's node process in the background; its output goes to logs/<name>.log. */
export function startPod(state: ClusterState, ordinal: number, given: ClusterOptions, env: NodeJS.ProcessEnv = process.env): Pod {
  if (ordinal > 253) throw new Error('at most 254 local pods');
  const options = { ...given, subnet: state.subnet, port: state.port, metricsPort: state.metricsPort };
  const layout: Omit<Pod, 'pid' | 'id'> = podLayout(state.mode, ordinal, options);
  if (state.network) layout.netns = ensurePodNamespace(state.network, ordinal).netns;
  const logDir = path.join(options.runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const previous = state.pods.find((p) => p.ordinal === ordinal);
  let redis = previous?.redis;
  if (state.storage === 'redis' && (!redis || !isRunning(redis.pid))) redis = startSidecar(state, layout, logDir);
  const log = openSync(path.join(logDir, `${layout.name}.log`), 'a');
  // PASTRY_NODE_ARGS: extra flags for each pod's node process, e.g. --cpu-prof (NODE_OPTIONS refuses it).
  const nodeArgs = (env.PASTRY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const [file, args] = inNamespace(layout.netns, process.execPath, [...nodeArgs, NODE_MAIN]);
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...env,
      PASTRY_NODE_NAME: layout.name,
      PASTRY_HOST: layout.host,
      PASTRY_PORT: String(layout.port),
      PASTRY_ADVERTISE_ADDRESS: layout.address,
      PASTRY_METRICS_PORT: String(layout.metricsPort),
      PASTRY_SEEDS: seedsFor(state.mode, options),
      PASTRY_FOUNDER_NAME: 'pastry-0',
      PASTRY_STORE: state.storage,
      PASTRY_ID_SCHEME: state.idScheme ?? 'name',
      ...(redis ? { PASTRY_REDIS_URL: `redis://${redis.address}` } : {}),
    },
  });
  closeSync(log);
  child.unref();
  const pod: Pod = { ...layout, id: nodeIdFor(layout.name, state.idScheme ?? 'name'), pid: child.pid ?? -1, ...(redis ? { redis } : {}), ...(previous?.delay ? { delay: previous.delay } : {}) };
  state.pods = state.pods.filter((p) => p.name !== pod.name).concat(pod).sort((a, b) => a.ordinal - b.ordinal);
  writeState(options.runDir, state);
  return pod;
}

/**
 * Brings the ring to N pods: starts pastry-0..N-1 where not running (a ring already up
 * scales up), then waits until every pod is ready and every leaf set is correct.
 */
export async function clusterUp(nodes: number, options: ClusterOptions, timeoutMs: number, env = process.env): Promise<ClusterState> {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 254) throw new Error('--nodes must be an integer from 1 to 254');
  if (!existsSync(NODE_MAIN)) throw new Error(`${NODE_MAIN} is missing: run \`make build\` first`);
  if (options.storage !== 'memory' && options.storage !== 'redis') throw new Error(`--storage must be memory or redis, got ${options.storage}`);
  const existing = readState(options.runDir);
  if (existing && existing.storage !== options.storage) throw new Error(`the ring in ${options.runDir} runs --storage ${existing.storage}; run \`pastry cluster down\` first`);
  const idScheme = options.idScheme ?? existing?.idScheme ?? 'name';
  if (!(ID_SCHEMES as readonly string[]).includes(idScheme)) throw new Error(`--id-scheme must be name or spread, got ${idScheme}`);
  if (existing && (existing.idScheme ?? 'name') !== idScheme) throw new Error(`the ring in ${options.runDir} runs --id-scheme ${existing.idScheme ?? 'name'}; run \`pastry cluster down\` first`);
  if (existing && options.netns && existing.mode !== 'netns') throw new Error(`the ring in ${options.runDir} is not a --netns ring; run \`pastry cluster down\` first`);
  const netns = options.netns || existing?.mode === 'netns';
  if (netns) {
    checkNetnsPrerequisites();
    if (nodes > 253) throw new Error('--nodes must be at most 253 with --netns (.254 is the host end of the bridge)');
    if (!existing) validateNetnsSubnet(options.subnet);
  } else if (!/^127\.\d{1,3}\.\d{1,3}$/.test(options.subnet)) throw new Error(`--subnet must be three octets in 127.0.0.0/8, like 127.0.10; got ${options.subnet}`);
  if (options.storage === 'redis') checkRedisInstalled();
  const state: ClusterState = existing ?? {
    pods: [],
    mode: netns ? 'netns' : (await canBindLoopbackRange(options.subnet)) ? 'loopback-addresses' : 'ports',
    ...(netns ? { network: networkFor(options.runDir, options.subnet) } : {}),
    leafSetSize: Number(env.PASTRY_LEAF_SET_SIZE ?? 16),
    storage: options.storage,
    idScheme,
    subnet: options.subnet,
    port: options.port,
    metricsPort: options.metricsPort,
  };
  try {
    if (state.network) {
      // Recorded before anything is made, so that `down` finds whatever a crash leaves behind.
      writeState(options.runDir, state);
      for (const bridge of ensureBridge(state.network)) {
        process.stderr.write(`pastry: reclaimed ${options.subnet}.0/24 from ${bridge}, a --netns ring with no process left (torn down)\n`);
      }
    }
    for (let i = 0; i < nodes; i++) {
      const pod = state.pods.find((p) => p.ordinal === i);
      if (!pod || !isRunning(pod.pid)) startPod(state, i, options, env);
    }
  } catch (error) {
    // A new --netns ring that fails half way leaves nothing behind.
    if (state.network && !existing) await clusterDown(options.runDir, 2000);
    throw error;
  }
  await waitForRing(state, timeoutMs);
  return state;
}

/** Waits until every running pod is ready and the leaf sets match the true ring. */
export async function waitForRing(state: ClusterState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = 'not checked yet';
  const clients = new StatusClients();
  try {
    while (Date.now() < deadline) {
      const running = state.pods.filter((p) => isRunning(p.pid));
      const dead = state.pods.filter((p) => !isRunning(p.pid) && p.pid > 0);
      problem = await ringProblem(running, state.leafSetSize, clients);
      if (problem === '') return;
      if (dead.length > 0 && running.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    clients.close();
  }
  throw new Error(`the ring did not converge within ${timeoutMs} ms: ${problem} (logs in the run directory)`);
}

/**
 * Status calls to pods, polled often while a ring starts: a client that reached its pod is
 * kept (a new connection per poll costs the starting nodes CPU they need); one that failed
 * is dropped, since its channel would wait out a reconnect backoff before trying again.
 */
export class StatusClients {
  private readonly clients = new Map<string, PastryClient>();

  async status(address: string): Promise<StatusResponse | undefined> {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = new PastryClient(address, 2000)));
    try {
      return await c.status(2000);
    } catch {
      c.close();
      this.clients.delete(address);
      return undefined;
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** '' when every pod is ready and every leaf set matches the true ring; else what is wrong. */
export async function ringProblem(pods: { name: string; id: string; address: string }[], leafSetSize: number, clients?: StatusClients): Promise<string> {
  if (pods.length === 0) return 'no pod is running';
  const own = clients ?? new StatusClients();
  let statuses: (StatusResponse | undefined)[];
  try {
    statuses = await Promise.all(pods.map((p) => own.status(p.address)));
  } finally {
    if (!clients) own.close();
  }
  const notReady = pods.filter((_, i) => !statuses[i]?.ready).map((p) => p.name);
  if (notReady.length > 0) return `not ready: ${notReady.join(', ')}`;
  const members = await walkRing(pods[0]!.address);
  const ids = pods.map((p) => p.id);
  const unexpected = members.filter((m) => !ids.includes(m.id));
  if (unexpected.length > 0) return `still listed: ${unexpected.map((m) => m.name).join(', ')}`;
  const errors = leafSetErrors(
    pods.map((p, i) => ({ id: p.id, name: p.name, leafSet: [...new Set([...statuses[i]!.leafSetLeft, ...statuses[i]!.leafSetRight].map((n) => n.id.toString('hex')))] })),
    ids,
    leafSetSize,
  );
  return errors.length > 0 ? `leaf sets not converged: ${errors.slice(0, 3).join('; ')}` : '';
}

/** Sends a signal to one pod's process; the pod stays in the state file for a restart. */
export function signalPod(runDir: string, name: string, signal: NodeJS.Signals, sidecar = false): Pod {
  const state = readState(runDir);
  const pod = state?.pods.find((p) => p.name === name);
  if (!state || !pod) throw new Error(`no pod named ${name} in ${runDir}`);
  if (isRunning(pod.pid)) process.kill(pod.pid, signal);
  if (sidecar && pod.redis && isRunning(pod.redis.pid)) process.kill(pod.redis.pid, signal);
  return pod;
}

/** Stops or kills only a pod's Redis sidecar (a failing sidecar). */
export function signalSidecar(runDir: string, name: string, signal: NodeJS.Signals): Pod {
  const pod = readState(runDir)?.pods.find((p) => p.name === name);
  if (!pod?.redis) throw new Error(`pod ${name} has no Redis sidecar in ${runDir}`);
  if (isRunning(pod.redis.pid)) process.kill(pod.redis.pid, signal);
  return pod;
}

/** Restarts a pod's Redis sidecar, empty, as a restarted container without persistence is. */
export function restartSidecar(runDir: string, name: string): Pod {
  const state = readState(runDir);
  const pod = state?.pods.find((p) => p.name === name);
  if (!state || !pod?.redis) throw new Error(`pod ${name} has no Redis sidecar in ${runDir}`);
  if (isRunning(pod.redis.pid)) throw new Error(`the sidecar of ${name} is running`);
  pod.redis = startSidecar(state, pod, path.join(runDir, 'logs'));
  writeState(runDir, state);
  return pod;
}

export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isRunning);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = alive.filter(isRunning);
  }
  return alive;
}

/** Stops every pod: SIGTERM, then SIGKILL for what is left after the grace period. */
export async function clusterDown(runDir: string, graceMs = 10_000): Promise<number> {
  const state = readState(runDir);
  if (!state) {
    removeNetworkLeftovers(runDir);
    return 0;
  }
  const pids = state.pods.map((p) => p.pid).filter((pid) => pid > 0 && isRunning(pid));
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const left = await waitForExit(pids, graceMs);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  await waitForExit(left, 5000);
  // Sidecars go last: a node hands its objects off from its store while it leaves.
  const sidecars = state.pods.map((p) => p.redis?.pid ?? -1).filter((pid) => pid > 0 && isRunning(pid));
  for (const pid of sidecars) process.kill(pid, 'SIGKILL');
  await waitForExit(sidecars, 5000);
  // Then the network: delay helpers and strays in the namespaces, namespaces, bridge, guard.
  if (state.network) teardownNetwork(state.network);
  rmSync(statePath(runDir), { force: true });
  return pids.length;
}

/** Without a state file: the namespaces, bridge and guard chain of this run dir, if any are left. */
function removeNetworkLeftovers(runDir: string): void {
  if (process.getuid?.() !== 0 || !which('ip')) return;
  teardownNetwork(networkFor(runDir, ''));
}

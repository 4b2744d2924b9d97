/**
 * Distributed computing on a local ring (`make bench-compute`, part of `make bench`):
 *   1. a seeded text file of --bytes uploaded with `pastry file put`;
 *   2. word count over it (examples/compute wordcount.wasm, one unit per chunk, `reduce`):
 *      checked against a count in this process and `LC_ALL=C wc -w`, beside `wc -w` and the same
 *      module run in one process over the same chunks;
 *   3. parallel efficiency: a CPU-bound unit (fixtures/spin.wasm) over the file's chunks on the
 *      ring beside the same units one after another in one process, and the nodes' CPU;
 *   4. churn: a job while a pod (never the entry pastry-0) is killed with SIGKILL every
 *      --kill-every seconds and restarted a few seconds later;
 *   5. overhead per empty unit (fixtures/empty.wasm over many small objects) beside the
 *      sandbox's own cost per unit in one process;
 *   6. memory: peak RSS of the node processes during the word count.
 * The one-process baselines run while the ring is frozen (SIGSTOP), so that its idle
 * maintenance does not take their CPU. Every process it starts is stopped at the end, also
 * after an error, a time-out or Ctrl-C.
 *
 *   node dist/bench/compute.js [--nodes 16] [--bytes 1g] [--chunk-size 256k] [--kill-every 10]
 *     [--spin-rounds N | --spin-ms 60] [--empty-units 2000] [--skip-churn] [--churn-job spin|wordcount]
 *     [--seed 1] [--timeout-seconds 1800] [--subnet 127.0.58] [--keep]
 * --spin-rounds unset: the rounds are calibrated in this process for --spin-ms per unit.
 * --keep keeps the work directory (the node logs). Exits 1 when a check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { PastryClient } from '../services/cli/src/client';
import { clusterDown, clusterUp, isRunning, readState, signalPod, startPod, waitForExit, waitForRing, type ClusterOptions, type ClusterState } from '../services/cli/src/cluster';
import { parseSize } from '../services/cli/src/files-command';
import { table } from '../services/cli/src/format';
import { Sandbox } from '../services/node/src/compute/sandbox';
import { prepareModule } from '../services/node/src/compute/wasm-module';
import { ComputeClient, type JobStatus, type RunRequest } from '../services/node/src/gen/pastry/v1/compute';
import { cpuSecondsOf, rssBytesOf } from './proc';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '16' },
    bytes: { type: 'string', default: '1g' },
    'chunk-size': { type: 'string', default: '256k' },
    'kill-every': { type: 'string', default: '10' },
    'spin-rounds': { type: 'string' },
    'spin-ms': { type: 'string', default: '60' },
    'empty-units': { type: 'string', default: '2000' },
    'skip-churn': { type: 'boolean', default: false },
    'churn-job': { type: 'string', default: 'spin' },
    seed: { type: 'string', default: '1' },
    'timeout-seconds': { type: 'string', default: '1800' },
    subnet: { type: 'string', default: '127.0.58' },
    keep: { type: 'boolean', default: false },
  },
});

function parseBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new Error(`--bytes needs a size like 1g, 256m, 65536; got ${JSON.stringify(value)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench-compute: --${name} needs a positive number, got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return n;
}

const NODES = positive('nodes', values.nodes);
const BYTES = parseBytes(values.bytes!);
const CHUNK = parseSize(values['chunk-size']!);
const KILL_EVERY_S = positive('kill-every', values['kill-every']);
const RESTART_AFTER_S = Math.min(3, KILL_EVERY_S / 2);
const SPIN_MS = positive('spin-ms', values['spin-ms']);
const EMPTY_UNITS = Math.round(positive('empty-units', values['empty-units']));
const SANDBOX_EMPTY_RUNS = 1000;
const SEED = Number(values.seed);
const TIMEOUT_S = positive('timeout-seconds', values['timeout-seconds']);
const CHURN_JOB = values['churn-job']!;
if (CHURN_JOB !== 'spin' && CHURN_JOB !== 'wordcount') {
  process.stderr.write(`bench-compute: --churn-job is spin or wordcount, got ${JSON.stringify(CHURN_JOB)}\n`);
  process.exit(2);
}
const SUBNET = values.subnet!;
const PORT = 7000;
const METRICS_PORT = 9858;
/** The node's defaults (config.ts): the in-process sandbox is set up as a node's. */
const UNIT_MEMORY_BYTES = 64 * 1024 * 1024;
const UNIT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 1024 * 1024;

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.resolve(__dirname, '../services/cli/src/main.js');
const wasm = (name: string): string => path.join(ROOT, 'examples', 'compute', 'build', `${name}.wasm`);
const CHANNEL = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 };

const STARTED = performance.now();
const log = (line: string): void => void process.stderr.write(`[${((performance.now() - STARTED) / 1000).toFixed(0).padStart(5)} s] ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secondsSince = (t0: number): number => (performance.now() - t0) / 1000;
const f = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 1 : 0)} MiB`;

// ---------------------------------------------------------------- processes

/** Child processes of this run (CLI, wc): killed on the way out. */
const children = new Set<ChildProcess>();
let runDir = '';
let work = '';
/** Set once the bench stops what it started: no pod is restarted after that. */
let stopped = false;
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  return (stopping ??= (async () => {
    stopped = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (runDir) {
      // A frozen ring would not see SIGTERM until thawed.
      for (const p of readState(runDir)?.pods ?? []) if (p.pid > 0 && isRunning(p.pid)) process.kill(p.pid, 'SIGCONT');
      await clusterDown(runDir, 5000).catch((e: unknown) => log(`cluster down: ${String(e)}`));
    }
    if (work) {
      if (values.keep) log(`work directory kept: ${work} (node logs in ${path.join(runDir, 'logs')})`);
      else rmSync(work, { recursive: true, force: true });
    }
  })());
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      children.delete(child);
      const seconds = secondsSince(t0);
      if (code === 0) resolve({ seconds, stdout, stderr });
      else reject(new Error(`${path.basename(file)} ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** utime + stime of a process (all its threads), in seconds; 0 once it is gone. */
const cpuSeconds = (pid: number): number => cpuSecondsOf(pid, 0);

const podPids = (): number[] => (readState(runDir)?.pods ?? []).map((p) => p.pid).filter((pid) => pid > 0 && isRunning(pid));

/** CPU seconds the node processes spend from now until the returned function is called. */
function nodeCpu(): () => number {
  const before = new Map(podPids().map((pid) => [pid, cpuSeconds(pid)]));
  return () => [...before].reduce((sum, [pid, t0]) => sum + Math.max(0, cpuSeconds(pid) - t0), 0);
}

/**
 * CPU seconds of the node processes, pods restarted meanwhile included: every process is
 * sampled each 500 ms, so a killed one loses at most its last half second.
 */
function nodeCpuFollowing(): () => number {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let initial = true;
  const sample = (): void => {
    for (const pid of podPids()) {
      const t = cpuSeconds(pid);
      if (t === 0) continue;
      // A pod started after the first sample counts from its start.
      if (!first.has(pid)) first.set(pid, initial ? t : 0);
      last.set(pid, t);
    }
  };
  sample();
  initial = false;
  const timer = setInterval(sample, 500);
  return () => {
    clearInterval(timer);
    sample();
    return [...last].reduce((sum, [pid, t]) => sum + Math.max(0, t - first.get(pid)!), 0);
  };
}

/** Samples VmRSS of every node process every 500 ms; the peak (max over nodes) and the peak of their sum. */
function watchRss(): () => { maxNode: number; maxNodeName: string; sum: number } {
  let maxNode = 0;
  let maxNodeName = '';
  let sum = 0;
  const sample = (): void => {
    let total = 0;
    for (const p of readState(runDir)?.pods ?? []) {
      const r = rssBytesOf(p.pid, 0);
      total += r;
      if (r > maxNode) {
        maxNode = r;
        maxNodeName = p.name;
      }
    }
    sum = Math.max(sum, total);
  };
  sample();
  const timer = setInterval(sample, 500);
  return () => {
    clearInterval(timer);
    sample();
    return { maxNode, maxNodeName, sum };
  };
}

/** Only what is measured runs: the ring (its idle maintenance) is frozen meanwhile, then given time to settle. */
async function frozen<T>(fn: () => Promise<T>): Promise<T> {
  const pids = podPids();
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGCONT');
    await sleep(2000);
    if (!stopped) await waitForRing(readState(runDir)!, 120_000);
  }
}

/** Refuses to start when something already answers on the ring's addresses (another ring on the subnet). */
async function checkSubnetFree(subnet: string, nodes: number): Promise<void> {
  const busy = await Promise.all(
    Array.from({ length: nodes }, (_, i) =>
      new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: `${subnet}.${i + 1}`, port: PORT });
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      }),
    ),
  );
  const taken = busy.flatMap((b, i) => (b ? [`${subnet}.${i + 1}:${PORT}`] : []));
  if (taken.length > 0) throw new Error(`something already listens on ${taken.join(', ')}: another ring on this subnet? (--subnet chooses another)`);
}

// ---------------------------------------------------------------- the input

/**
 * Seeded text as test/integration/compute.test.ts's text(): words of 1-30 letters (mostly
 * 1-8) between runs of 1-3 spaces, tabs and newlines, produced block by block.
 */
class TextGenerator {
  private x: number;
  private inWord = false;
  private left = 0;

  constructor(seed: number) {
    this.x = seed >>> 0;
  }

  private next(n: number): number {
    this.x = (Math.imul(this.x, 1664525) + 1013904223) >>> 0;
    return this.x % n;
  }

  fill(out: Buffer): void {
    let i = 0;
    while (i < out.length) {
      if (this.left === 0) {
        this.inWord = !this.inWord;
        this.left = this.inWord ? 1 + this.next(this.next(10) === 0 ? 30 : 8) : 1 + this.next(3);
      }
      if (this.inWord) for (; this.left > 0 && i < out.length; this.left--) out[i++] = 97 + this.next(26);
      else for (; this.left > 0 && i < out.length; this.left--) out[i++] = [32, 32, 9, 10][this.next(4)]!;
    }
  }
}

/** `LC_ALL=C wc -w`'s definition: maximal runs of bytes other than 0x20 and 0x09-0x0D. */
class WordCounter {
  count = 0;
  private inWord = false;

  add(b: Buffer): void {
    let inWord = this.inWord;
    let count = this.count;
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      const word = c !== 0x20 && (c < 0x09 || c > 0x0d);
      if (word && !inWord) count++;
      inWord = word;
    }
    this.inWord = inWord;
    this.count = count;
  }
}

/** Writes the file and counts its words as it goes. */
function makeText(file: string, bytes: number, seed: number): number {
  const gen = new TextGenerator(seed);
  const counter = new WordCounter();
  const block = Buffer.alloc(8 << 20);
  const fd = openSync(file, 'w');
  try {
    for (let written = 0; written < bytes; ) {
      const piece = block.subarray(0, Math.min(block.length, bytes - written));
      gen.fill(piece);
      counter.add(piece);
      writeSync(fd, piece);
      written += piece.length;
    }
  } finally {
    closeSync(fd);
  }
  return counter.count;
}

/** Calls `fn` on every chunk of the file in order (one reused buffer: `fn` must not keep it). */
async function forEachChunk(file: string, chunk: number, fn: (data: Buffer, index: number) => Promise<void> | void): Promise<number> {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(chunk);
  let index = 0;
  try {
    for (let offset = 0; ; offset += chunk) {
      let n = 0;
      while (n < chunk) {
        const r = readSync(fd, buf, n, chunk - n, offset + n);
        if (r === 0) break;
        n += r;
      }
      if (n === 0) break;
      await fn(buf.subarray(0, n), index++);
      if (n < chunk) break;
    }
  } finally {
    closeSync(fd);
  }
  return index;
}

// ---------------------------------------------------------------- one process

/** The sandbox as a node sets it up, one slot: units one after another. */
function newSandbox(): Sandbox {
  return new Sandbox({ slots: 1, queue: 1_000_000, memoryBytes: UNIT_MEMORY_BYTES, timeoutMs: UNIT_TIMEOUT_MS, maxOutputBytes: MAX_OUTPUT_BYTES });
}

function compile(file: string, entries: string[]): WebAssembly.Module {
  return prepareModule(readFileSync(file), entries, UNIT_MEMORY_BYTES).module;
}

/** The host API in this thread, a fresh instance per call as in the sandbox (no worker, no copy to one). */
function runDirect(module: WebAssembly.Module, entry: string, input: Uint8Array, arg: Uint8Array): Buffer {
  let memory: WebAssembly.Memory | undefined;
  const out: Buffer[] = [];
  const reader = (source: Uint8Array) => (offset: number, ptr: number, len: number): number => {
    const n = Math.max(0, Math.min(len, source.length - offset));
    new Uint8Array(memory!.buffer).set(source.subarray(offset, offset + n), ptr);
    return n;
  };
  const instance = new WebAssembly.Instance(module, {
    pastry: {
      input_size: () => input.length,
      input_read: reader(input),
      arg_size: () => arg.length,
      arg_read: reader(arg),
      output_write: (ptr: number, len: number) => void out.push(Buffer.from(new Uint8Array(memory!.buffer, ptr, len))),
    },
    env: {
      abort: () => {
        throw new Error(`${entry} aborted`);
      },
    },
  });
  memory = instance.exports.memory as WebAssembly.Memory;
  (instance.exports[entry] as () => void)();
  return Buffer.concat(out);
}

/** Unit outputs framed as a module's reduce reads them: each preceded by its length, u32 LE. */
function framed(outputs: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const o of outputs) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(o.length);
    parts.push(len, o);
  }
  return Buffer.concat(parts);
}

interface LocalRun {
  seconds: number;
  /** CPU of this process (every thread) during the run. */
  cpuSeconds: number;
  units: number;
  result: string;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Word count in one process over the file's chunks: `run` per chunk, then `reduce`. */
async function localWordcount(file: string, how: 'direct' | 'sandbox'): Promise<LocalRun> {
  const module = compile(wasm('wordcount'), ['run', 'reduce']);
  const sandbox = how === 'sandbox' ? newSandbox() : undefined;
  const none = Buffer.alloc(0);
  const outputs: Buffer[] = [];
  let seconds = 0;
  let cpu = 0;
  try {
    // Reading the file is not counted: the nodes hold their chunks in memory.
    const units = await forEachChunk(file, CHUNK, async (data) => {
      const t0 = performance.now();
      const c0 = cpuNow();
      outputs.push(sandbox ? await sandbox.run(module, 'run', data, none) : runDirect(module, 'run', data, none));
      seconds += secondsSince(t0);
      cpu += cpuNow() - c0;
    });
    const t0 = performance.now();
    const c0 = cpuNow();
    const result = (sandbox ? await sandbox.run(module, 'reduce', framed(outputs), none) : runDirect(module, 'reduce', framed(outputs), none)).toString();
    seconds += secondsSince(t0);
    cpu += cpuNow() - c0;
    return { seconds, cpuSeconds: cpu, units, result };
  } finally {
    await sandbox?.close();
  }
}

/** Spin over the file's chunks in one process, one unit after another in a one-slot sandbox; `sum` of the outputs. */
async function localSpin(file: string, rounds: number, maxUnits = Infinity): Promise<LocalRun> {
  const module = compile(wasm('fixtures/spin'), ['run']);
  const sandbox = newSandbox();
  const arg = Buffer.from(String(rounds));
  let seconds = 0;
  let cpu = 0;
  let total = 0n;
  try {
    const units = await forEachChunk(file, CHUNK, async (data, i) => {
      if (i >= maxUnits) return;
      const t0 = performance.now();
      const c0 = cpuNow();
      total += BigInt((await sandbox.run(module, 'run', data, arg)).toString());
      seconds += secondsSince(t0);
      cpu += cpuNow() - c0;
    });
    return { seconds, cpuSeconds: cpu, units: Math.min(units, maxUnits), result: total.toString() };
  } finally {
    await sandbox.close();
  }
}

/** Rounds of spin.wasm for about `ms` per unit in the sandbox (the ring frozen meanwhile). */
async function calibrateSpin(ms: number): Promise<{ rounds: number; nsPerRound: number }> {
  const module = compile(wasm('fixtures/spin'), ['run']);
  const sandbox = newSandbox();
  try {
    const input = Buffer.alloc(CHUNK);
    await sandbox.run(module, 'run', input, Buffer.from('1000'));
    const time = async (rounds: number): Promise<number> => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await sandbox.run(module, 'run', input, Buffer.from(String(rounds)));
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    const base = await time(0);
    const probe = 20_000_000;
    const nsPerRound = (Math.max(0.01, (await time(probe)) - base) * 1e6) / probe;
    return { rounds: Math.max(1, Math.round(((ms - base) * 1e6) / nsPerRound)), nsPerRound };
  } finally {
    await sandbox.close();
  }
}

/** Empty units in one sandbox, one after another: the runtime's own cost per unit. */
async function localEmpty(runs: number): Promise<LocalRun> {
  const module = compile(wasm('fixtures/empty'), ['run']);
  const sandbox = newSandbox();
  const input = Buffer.from('abcdefgh');
  const none = Buffer.alloc(0);
  try {
    for (let i = 0; i < 20; i++) await sandbox.run(module, 'run', input, none);
    const t0 = performance.now();
    const c0 = cpuNow();
    for (let i = 0; i < runs; i++) await sandbox.run(module, 'run', input, none);
    return { seconds: secondsSince(t0), cpuSeconds: cpuNow() - c0, units: runs, result: '' };
  } finally {
    await sandbox.close();
  }
}

// ---------------------------------------------------------------- the ring

interface Job {
  status: JobStatus;
  /** From the request sent to the final message, measured here. */
  seconds: number;
  result: string;
}

/** Runs a job through the Compute API of `target`, with a progress line on stderr every 5 s. */
function runJob(target: string, request: RunRequest, label: string, deadline: number, onStatus: (s: JobStatus, atS: number) => void = () => undefined): Promise<Job> {
  const client = new ComputeClient(target, credentials.createInsecure(), CHANNEL);
  const t0 = performance.now();
  let lastLog = t0;
  return new Promise<Job>((resolve, reject) => {
    let last: JobStatus | undefined;
    const call = client.run(request, { deadline });
    call.on('data', (s: JobStatus) => {
      last = s;
      onStatus(s, secondsSince(t0));
      if (performance.now() - lastLog >= 5000) {
        lastLog = performance.now();
        log(`  ${label}: ${s.done}/${s.units} done, ${s.failed} failed, ${s.retried} retried, ${s.running} running, ${f(secondsSince(t0), 0)} s`);
      }
    });
    call.on('error', (e) => {
      client.close();
      reject(new Error(`${label}: ${e.message}`));
    });
    call.on('end', () => {
      client.close();
      const seconds = secondsSince(t0);
      if (!last || last.state === 'running') return reject(new Error(`${label}: the node ended the job without a result`));
      resolve({ status: last, seconds, result: Buffer.from(last.result).toString('utf8') });
    });
  });
}

function request(module: string, input: { file?: string; objects?: Buffer[] }, reduce: string, arg = ''): RunRequest {
  return {
    module: readFileSync(wasm(module)),
    moduleGuid: Buffer.alloc(0),
    inputFile: input.file ? Buffer.from(input.file, 'hex') : Buffer.alloc(0),
    inputObjects: input.objects ?? [],
    reduce,
    redundancy: 1,
    arg: Buffer.from(arg),
    function: 'run',
    unitTimeoutMs: 0,
  };
}

function failures(job: Job): string {
  const s = job.status;
  if (s.state === 'done') return '';
  return `${s.error}; ${s.failures.slice(0, 3).map((x) => `unit ${x.unit}: ${x.error}`).join('; ')}`;
}

/** Puts `n` small objects (32 at a time, entry nodes in turn); their GUIDs in order. */
async function putObjects(addresses: string[], n: number, nonce: string): Promise<Buffer[]> {
  const clients = addresses.map((a) => new PastryClient(a, 20_000));
  const guids: Buffer[] = new Array(n);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) {
          const i = next++;
          const r = await clients[i % clients.length]!.put(`bench-compute-${nonce}-${i}`, Buffer.from(`unit ${i}`));
          guids[i] = Buffer.from(r.guid);
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  return guids;
}

interface Kill {
  atS: number;
  pod: string;
  restartedAtS?: number;
}

/** pastry-0's retries by cause (pastry_compute_units_retried_total{cause}), its running totals. */
async function retriedByCause(runDir: string): Promise<Record<string, number>> {
  const pod = readState(runDir)?.pods.find((p) => p.name === 'pastry-0');
  if (!pod) return {};
  const text = await fetch(`http://${pod.host}:${pod.metricsPort}/metrics`).then((r) => r.text());
  return Object.fromEntries([...text.matchAll(/^pastry_compute_units_retried_total\{cause="(\w+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Runs `job` while a pod other than pastry-0 is killed every KILL_EVERY_S and restarted RESTART_AFTER_S later. */
async function withChurn<T>(options: ClusterOptions, env: NodeJS.ProcessEnv, job: () => Promise<T>): Promise<{ value: T; kills: Kill[] }> {
  const state = readState(runDir)!;
  const ordinals = state.pods.map((p) => p.ordinal).filter((o) => o !== 0);
  // A seeded shuffle: kill order spread over the ring's id space.
  let x = (SEED * 2654435761) >>> 0;
  for (let i = ordinals.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    [ordinals[i], ordinals[j]] = [ordinals[j]!, ordinals[i]!];
  }
  const kills: Kill[] = [];
  const restarts: Promise<void>[] = [];
  const down = new Set<number>();
  const t0 = performance.now();
  let cursor = 0;
  let done = false;
  const timer = setInterval(() => {
    if (done || stopped || ordinals.length === 0) return;
    let victim: number | undefined;
    for (let tries = 0; tries < ordinals.length && victim === undefined; tries++) {
      const o = ordinals[cursor++ % ordinals.length]!;
      if (!down.has(o)) victim = o;
    }
    if (victim === undefined) return;
    const ordinal = victim;
    const name = `pastry-${ordinal}`;
    const kill: Kill = { atS: secondsSince(t0), pod: name };
    kills.push(kill);
    down.add(ordinal);
    const pid = signalPod(runDir, name, 'SIGKILL').pid;
    log(`  churn: t=${f(kill.atS, 1)} s kill -9 ${name}`);
    restarts.push(
      (async () => {
        await waitForExit([pid], 5000);
        await sleep(RESTART_AFTER_S * 1000);
        if (stopped) return;
        startPod(readState(runDir)!, ordinal, options, env);
        kill.restartedAtS = secondsSince(t0);
        down.delete(ordinal);
        log(`  churn: t=${f(kill.restartedAtS, 1)} s ${name} restarted`);
      })(),
    );
  }, KILL_EVERY_S * 1000);
  try {
    return { value: await job(), kills };
  } finally {
    done = true;
    clearInterval(timer);
    await Promise.all(restarts);
  }
}

// ---------------------------------------------------------------- main

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

async function main(): Promise<number> {
  const deadline = Date.now() + TIMEOUT_S * 1000;
  const commandLine = `node ${path.relative(process.cwd(), process.argv[1]!) || process.argv[1]} ${process.argv.slice(2).join(' ')}`.trim();
  work = mkdtempSync(path.join(os.tmpdir(), 'pastry-bench-compute-'));
  runDir = path.join(work, 'ring');
  const file = path.join(work, 'words.txt');
  const env = { ...process.env, PASTRY_LOG_LEVEL: 'warn' };
  const options: ClusterOptions = { runDir, port: PORT, metricsPort: METRICS_PORT, storage: 'memory', subnet: SUBNET };
  const units = Math.ceil(BYTES / CHUNK);
  const checks: Check[] = [];
  const check = (what: string, ok: boolean, detail: string): void => {
    checks.push({ what, ok, detail });
    log(`${ok ? 'ok' : 'FAILED'}: ${what} (${detail})`);
  };
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memGiB: Math.round(os.totalmem() / 2 ** 30), load: os.loadavg()[0]! };
  const nonce = Math.random().toString(36).slice(2, 8);

  for (const m of ['wordcount', 'fixtures/spin', 'fixtures/empty']) {
    try {
      readFileSync(wasm(m));
    } catch {
      throw new Error(`${wasm(m)} is missing: run \`bash examples/compute/build.sh\` (or \`make examples\`) first`);
    }
  }
  if (BYTES < CHUNK) throw new Error(`--bytes (${BYTES}) is less than one chunk (${CHUNK})`);

  log(`compute bench: ${NODES} nodes on ${SUBNET}.x, memory store, ${mib(BYTES)} of text in ${units} chunks of ${CHUNK / 1024} KiB; ${machine.cpus} CPUs, node ${process.version}`);
  // 1. the input
  let t = performance.now();
  const localWords = makeText(file, BYTES, SEED);
  const genSeconds = secondsSince(t);
  log(`wrote ${file}: ${localWords} words (counted here) in ${f(genSeconds, 1)} s`);

  await checkSubnetFree(SUBNET, NODES);
  t = performance.now();
  const state: ClusterState = await clusterUp(NODES, options, 180_000, env);
  const upSeconds = secondsSince(t);
  const addresses = state.pods.map((p) => p.address);
  const entry = addresses[0]!;
  log(`ring up: ${NODES} nodes in ${f(upSeconds, 1)} s`);
  await sleep(3000);
  let stopCpu = nodeCpu();
  t = performance.now();
  await sleep(5000);
  const idleCpuPerS = stopCpu() / secondsSince(t);
  log(`idle ring: ${f(idleCpuPerS)} CPU s per s (all ${NODES} nodes)`);

  const put = await run(process.execPath, [CLI, 'file', 'put', file, '--chunk-size', String(CHUNK), '--json', '--target', entry, '--run-dir', runDir], env);
  const putOut = JSON.parse(put.stdout) as { guid: string; chunks: number; size: number };
  const guid = putOut.guid;
  check('the upload has one chunk per --chunk-size', putOut.chunks === units && putOut.size === BYTES, `${putOut.chunks} chunks of ${putOut.size} bytes, expected ${units} of ${BYTES}`);
  log(`uploaded ${guid} in ${f(put.seconds, 1)} s`);

  // 2. word count: the floors with the ring frozen, then the ring.
  const { wc, direct, sandboxed } = await frozen(async () => {
    const w = await run('bash', ['-c', `LC_ALL=C wc -w < '${file}'`]);
    const d = await localWordcount(file, 'direct');
    const s = await localWordcount(file, 'sandbox');
    return { wc: { seconds: w.seconds, words: Number(w.stdout.trim()) }, direct: d, sandboxed: s };
  });
  log(`wc -w: ${wc.words} in ${f(wc.seconds)} s; one process: ${direct.result} in ${f(direct.seconds)} s (direct), ${sandboxed.result} in ${f(sandboxed.seconds)} s (sandbox)`);
  check('wc -w equals the count in this process', wc.words === localWords, `${wc.words} vs ${localWords}`);
  check('wordcount.wasm in one process (direct and sandbox) equals it', direct.result === String(localWords) && sandboxed.result === String(localWords), `${direct.result}, ${sandboxed.result}`);

  const rssBase = Math.max(...podPids().map((pid) => rssBytesOf(pid, 0)));
  const stopRss = watchRss();
  stopCpu = nodeCpu();
  const wcJob = await runJob(entry, request('wordcount', { file: guid }, 'reduce'), 'wordcount', deadline);
  const wcCpu = stopCpu();
  const rss = stopRss();
  check('the ring\'s word count equals the local count and wc -w', wcJob.status.state === 'done' && wcJob.result === String(localWords) && wcJob.result === String(wc.words), `${wcJob.result || failures(wcJob)} vs ${localWords}`);
  check('the word count ran one unit per chunk, none failed', wcJob.status.units === units && wcJob.status.failed === 0, `${wcJob.status.units} units, ${wcJob.status.failed} failed, ${wcJob.status.retried} retried`);
  log(`ring word count: ${wcJob.result} in ${f(wcJob.seconds)} s`);

  // 3. parallel efficiency: spin, calibrated and run in one process with the ring frozen, then on the ring.
  const given = values['spin-rounds'];
  const { calibration, spinLocal } = await frozen(async () => {
    const c = given !== undefined ? { rounds: Math.round(positive('spin-rounds', given)), nsPerRound: NaN } : await calibrateSpin(SPIN_MS);
    log(`spin: ${c.rounds} rounds a unit${given === undefined ? ` (calibrated for ${SPIN_MS} ms: ${f(c.nsPerRound, 3)} ns a round)` : ''}; ${units} units in one process...`);
    return { calibration: c, spinLocal: await localSpin(file, c.rounds) };
  });
  check('spin in one process sums to the file size', spinLocal.result === String(BYTES), `${spinLocal.result} vs ${BYTES}`);
  log(`spin in one process: ${f(spinLocal.seconds, 1)} s, ${f((1000 * spinLocal.seconds) / spinLocal.units, 1)} ms a unit`);
  const spinRss = watchRss();
  stopCpu = nodeCpu();
  const spinJob = await runJob(entry, request('fixtures/spin', { file: guid }, 'sum', String(calibration.rounds)), 'spin', deadline);
  const spinCpu = stopCpu();
  const spinPeak = spinRss();
  check('spin on the ring sums to the file size', spinJob.status.state === 'done' && spinJob.result === String(BYTES), `${spinJob.result || failures(spinJob)} vs ${BYTES}`);
  log(`spin on the ring: ${f(spinJob.seconds, 1)} s`);

  // 5. overhead per empty unit.
  t = performance.now();
  const objects = await putObjects(addresses, EMPTY_UNITS, nonce);
  const putObjectsSeconds = secondsSince(t);
  log(`put ${EMPTY_UNITS} objects in ${f(putObjectsSeconds, 1)} s`);
  stopCpu = nodeCpu();
  const emptyJob = await runJob(entry, request('fixtures/empty', { objects }, 'concat'), 'empty', deadline);
  const emptyCpu = stopCpu();
  check('the empty units all ran', emptyJob.status.state === 'done' && emptyJob.status.units === EMPTY_UNITS && emptyJob.status.done === EMPTY_UNITS && emptyJob.result === '', `${emptyJob.status.done}/${emptyJob.status.units} done${failures(emptyJob) ? `: ${failures(emptyJob)}` : ''}`);
  const emptyLocal = await frozen(() => localEmpty(SANDBOX_EMPTY_RUNS));
  log(`empty: ring ${f((1000 * emptyJob.seconds) / EMPTY_UNITS, 2)} ms a unit, sandbox ${f((1000 * emptyLocal.seconds) / emptyLocal.units, 3)} ms a unit`);

  // 4. churn.
  let churn: { job: Job; kills: Kill[]; expected: string; cpu: number; timeline: number[]; causes: Record<string, number> } | undefined;
  /** Units done by the end of each 30 s of a job. */
  const WINDOW_S = 30;
  if (!values['skip-churn']) {
    const expected = CHURN_JOB === 'spin' ? String(BYTES) : String(localWords);
    const req = CHURN_JOB === 'spin' ? request('fixtures/spin', { file: guid }, 'sum', String(calibration.rounds)) : request('wordcount', { file: guid }, 'reduce');
    log(`churn: ${CHURN_JOB} over ${units} units, kill -9 of a pod every ${KILL_EVERY_S} s, restarted ${RESTART_AFTER_S} s later`);
    try {
      const doneAt: number[] = [];
      const stopChurnCpu = nodeCpuFollowing();
      const causesBefore = await retriedByCause(runDir);
      const r = await withChurn(options, env, () => runJob(entry, req, `churn ${CHURN_JOB}`, deadline, (s, atS) => void (doneAt[Math.floor(atS / WINDOW_S)] = s.done)));
      const cpu = stopChurnCpu();
      let previous = 0;
      const timeline = Array.from({ length: doneAt.length }, (_, i) => {
        const d = doneAt[i] ?? previous;
        const n = d - previous;
        previous = d;
        return n;
      });
      const causesAfter = await retriedByCause(runDir);
      const causes = Object.fromEntries(Object.entries(causesAfter).map(([cause, n]) => [cause, n - (causesBefore[cause] ?? 0)]));
      churn = { job: r.value, kills: r.kills, expected, cpu, timeline, causes };
      check(`the ${CHURN_JOB} job under churn is still right`, r.value.status.state === 'done' && r.value.result === expected, `${r.value.result || failures(r.value)} vs ${expected}; ${r.value.status.failed} failed, ${r.value.status.retried} retried, ${r.kills.length} kills`);
    } catch (error) {
      check(`the ${CHURN_JOB} job under churn is still right`, false, String(error));
    }
  }

  // ------------------------------------------------------------ the tables
  const out: string[] = [];
  out.push(`\n$ ${commandLine}`);
  out.push(`distributed computing: ${NODES} nodes (memory store, compute slots: the node default, half the cores = ${Math.max(1, Math.floor(os.availableParallelism() / 2))} a node), local ring on ${SUBNET}.x;`);
  out.push(`${machine.cpus} CPUs (${machine.cpu}), ${machine.memGiB} GiB, node ${process.version}, ${new Date().toISOString()}; load average (1 min) at start / end: ${f(machine.load, 1)} / ${f(os.loadavg()[0]!, 1)}`);
  out.push(`input: ${mib(BYTES)} of seeded text (seed ${SEED}; words of letters between spaces, tabs and newlines), ${units} chunks of ${CHUNK / 1024} KiB; the ring's idle maintenance: ${f(idleCpuPerS)} CPU s per s over all nodes`);
  out.push('one-process figures are taken with the ring frozen (SIGSTOP), so that they have the machine to themselves');

  out.push(`\n1. upload\n`);
  out.push(table(['figure', 'value', 'meaning'], [
    ['text generated + counted', `${f(genSeconds, 1)} s`, 'seeded generator writing the temp file, words counted in this process on the way'],
    ['ring up', `${f(upSeconds, 1)} s`, `${NODES} node processes started and every leaf set converged`],
    ['pastry file put', `${f(put.seconds, 1)} s  ${f(BYTES / 2 ** 20 / put.seconds, 1)} MiB/s`, `CLI through pastry-0, ${units} chunks stored on k = 3 replicas (CLI start-up included)`],
  ]));

  const ringPerUnitMs = (1000 * wcJob.seconds) / units;
  out.push(`\n2. word count (${wcJob.result} words)\n`);
  out.push(table(['figure', 'value', 'meaning'], [
    ['words: ring / here / wc -w', `${wcJob.result} / ${localWords} / ${wc.words}`, 'the job\'s result; this process\'s count (runs of bytes not 0x20, 0x09-0x0D); LC_ALL=C wc -w'],
    ['ring job', `${f(wcJob.seconds)} s  (${f(BYTES / 2 ** 20 / wcJob.seconds, 0)} MiB/s)`, `Compute.Run on pastry-0 to its final message: ${units} units + reduce (node's own: ${f(wcJob.status.seconds)} s, ${wcJob.status.retried} retried)`],
    ['  per unit', `${f(ringPerUnitMs, 2)} ms`, 'ring job ÷ units (wall time)'],
    ['  node CPU', `${f(wcCpu, 1)} s  (${f((1000 * wcCpu) / units, 2)} ms a unit)`, `utime+stime of all node processes during the job (idle maintenance ≈ ${f(idleCpuPerS * wcJob.seconds, 1)} s of it)`],
    ['LC_ALL=C wc -w', `${f(wc.seconds)} s  (${f(BYTES / 2 ** 20 / wc.seconds, 0)} MiB/s)`, 'wall time of wc -w on the file (page cache warm)'],
    ['one process, WebAssembly directly', `${f(direct.seconds)} s  (${f((1000 * direct.seconds) / units, 3)} ms a unit, CPU ${f(direct.cpuSeconds)} s)`, 'same module, fresh instance per chunk, in this thread (file reads not counted), then reduce'],
    ['one process, Sandbox (slots 1)', `${f(sandboxed.seconds)} s  (${f((1000 * sandboxed.seconds) / units, 3)} ms a unit, CPU ${f(sandboxed.cpuSeconds)} s)`, 'same, through the node\'s Sandbox class: one worker thread, a chunk posted to it per unit'],
    ['ring ÷ one process (direct / sandbox)', `${f(wcJob.seconds / direct.seconds, 1)}× / ${f(wcJob.seconds / sandboxed.seconds, 1)}×`, 'how much longer the ring takes than one process doing the same work'],
    ['ring ÷ wc -w', `${f(wcJob.seconds / wc.seconds, 1)}×`, ''],
  ]));

  const ringRate = units / spinJob.seconds;
  const localRate = spinLocal.units / spinLocal.seconds;
  const efficiency = ringRate / localRate;
  out.push(`\n3. parallel efficiency: fixtures/spin.wasm, ${calibration.rounds} rounds a unit, ${units} units, reduce sum (${spinJob.result})\n`);
  out.push(table(['figure', 'value', 'meaning'], [
    ['one process (Sandbox, slots 1)', `${f(spinLocal.seconds, 1)} s  ${f(localRate, 2)} units/s  (${f((1000 * spinLocal.seconds) / spinLocal.units, 1)} ms a unit)`, 'the units one after another in one worker thread, the ring frozen'],
    ['  its CPU', `${f(spinLocal.cpuSeconds, 1)} s`, 'utime+stime of this process during it'],
    ['ring', `${f(spinJob.seconds, 1)} s  ${f(ringRate, 2)} units/s`, `Compute.Run on pastry-0 to its final message (node's own: ${f(spinJob.status.seconds, 1)} s, ${spinJob.status.retried} retried)`],
    ['efficiency', `${f(efficiency, 2)}`, `ring units/s ÷ one-process units/s; at most ${machine.cpus} on ${machine.cpus} cores (the aim: ≥ 1.6)`],
    ['node CPU during the job', `${f(spinCpu, 1)} s  (${f(spinCpu / spinJob.seconds, 2)} cores busy on average)`, `utime+stime over all ${NODES} node processes (idle maintenance ≈ ${f(idleCpuPerS * spinJob.seconds, 1)} s of it)`],
    ['  per unit, ring / one process', `${f((1000 * spinCpu) / units, 1)} / ${f((1000 * spinLocal.cpuSeconds) / spinLocal.units, 1)} ms`, 'CPU a unit costs on the ring vs in one process'],
    ['peak node RSS during it', `${mib(spinPeak.maxNode)} (${spinPeak.maxNodeName})`, 'max over nodes of VmRSS, sampled every 500 ms'],
  ]));

  if (churn) {
    const j = churn.job;
    const correct = j.status.state === 'done' && j.result === churn.expected;
    const base = CHURN_JOB === 'spin' ? spinJob.seconds : wcJob.seconds;
    out.push(`\n4. churn: ${CHURN_JOB} again (${units} units) while a pod other than pastry-0 is killed with SIGKILL every ${KILL_EVERY_S} s and restarted ${RESTART_AFTER_S} s later\n`);
    out.push(table(['figure', 'value', 'meaning'], [
      ['still correct', correct ? 'yes' : 'no', `result ${j.result || '(none)'} vs ${churn.expected}${j.status.error ? `; ${j.status.error}` : ''}`],
      ['units / retried / failed', `${j.status.units} / ${j.status.retried} / ${j.status.failed}`, 'retried: runs sent again (a route failed or was rerouted around a dead hop)'],
      ['retried by cause', Object.entries(churn.causes).map(([cause, n]) => `${cause} ${n}`).join(', '), "pastry-0's pastry_compute_units_retried_total{cause} over the job: rerouted (a hop on the route died), timeout, unavailable"],
      ['time', `${f(j.seconds, 1)} s  (${f(j.seconds / base, 2)}× the run without churn)`, 'Compute.Run on pastry-0 to its final message'],
      ['kills', churn.kills.length === 0 ? '0 (the job ended before the first)' : `${churn.kills.length}`, 'SIGKILLs during the job (listed below)'],
      ['node CPU during the job', `${f(churn.cpu, 1)} s  (${f(churn.cpu / j.seconds, 2)} cores busy on average)`, `utime+stime of the node processes, restarted ones included (the run without churn: ${f(CHURN_JOB === 'spin' ? spinCpu : wcCpu, 1)} s)`],
      [`units done per ${WINDOW_S} s`, churn.timeline.join(' '), `throughput over the job (without churn: about ${f((WINDOW_S * units) / base, 0)} per ${WINDOW_S} s)`],
    ]));
    if (churn.kills.length > 0) out.push(`kills (pod@seconds from the job's start): ${churn.kills.map((k) => `${k.pod}@${f(k.atS, 0)}`).join(' ')}`);
    for (const x of j.status.failures.slice(0, 5)) out.push(`  failed unit ${x.unit} (input ${Buffer.from(x.input).toString('hex')}): ${x.error}`);
  } else {
    out.push('\n4. churn: skipped (--skip-churn)');
  }

  out.push(`\n5. overhead per empty unit: fixtures/empty.wasm over ${EMPTY_UNITS} objects of a few bytes (put in ${f(putObjectsSeconds, 1)} s)\n`);
  out.push(table(['figure', 'value', 'meaning'], [
    ['ring job', `${f(emptyJob.seconds, 2)} s  (${f(EMPTY_UNITS / emptyJob.seconds, 0)} units/s)`, `Compute.Run on pastry-0 (node's own: ${f(emptyJob.status.seconds, 2)} s)`],
    ['  per unit (wall)', `${f((1000 * emptyJob.seconds) / EMPTY_UNITS, 2)} ms`, 'ring job ÷ units: 64 in flight, routed to each object\'s root'],
    ['  node CPU per unit', `${f((1000 * emptyCpu) / EMPTY_UNITS, 2)} ms  (${f((1000 * Math.max(0, emptyCpu - idleCpuPerS * emptyJob.seconds)) / EMPTY_UNITS, 2)} ms without idle maintenance)`, `utime+stime of all nodes during the job (${f(emptyCpu, 1)} s) ÷ units`],
    ['Sandbox alone, per unit (wall)', `${f((1000 * emptyLocal.seconds) / emptyLocal.units, 3)} ms`, `${emptyLocal.units} empty units one after another in one Sandbox (slots 1), this process`],
    ['Sandbox alone, CPU per unit', `${f((1000 * emptyLocal.cpuSeconds) / emptyLocal.units, 3)} ms`, 'utime+stime of this process (all threads) ÷ units'],
    ['ring ÷ sandbox, CPU per unit', `${f(emptyCpu / EMPTY_UNITS / (emptyLocal.cpuSeconds / emptyLocal.units), 1)}×`, 'what routing, the job\'s bookkeeping and the nodes add to a unit'],
  ]));

  out.push(`\n6. memory during the word count\n`);
  out.push(table(['figure', 'value', 'meaning'], [
    ['peak node RSS', `${mib(rss.maxNode)} (${rss.maxNodeName})`, 'max over nodes of VmRSS, sampled every 500 ms during the ring job'],
    ['  before the job', mib(rssBase), 'max over nodes of VmRSS just before (the stored chunks included)'],
    ['peak of the sum over nodes', mib(rss.sum), `all ${NODES} node processes together (${f((3 * BYTES) / 2 ** 20, 0)} MiB are the k = 3 copies of the file)`],
  ]));

  const bad = checks.filter((c) => !c.ok);
  out.push(`\nchecks: ${checks.length - bad.length} of ${checks.length} passed${bad.length ? '' : ''}`);
  for (const c of bad) out.push(`  FAILED: ${c.what}: ${c.detail}`);
  out.push(`total ${f(secondsSince(STARTED), 0)} s`);
  process.stdout.write(out.join('\n') + '\n');
  return bad.length === 0 ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process of this run`);
    void stopAll().then(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  log(`bench-compute: not done within --timeout-seconds ${TIMEOUT_S}; stopping`);
  void stopAll().then(() => process.exit(1));
}, TIMEOUT_S * 1000);

main().then(
  async (code) => {
    clearTimeout(watchdog);
    await stopAll();
    process.exit(code);
  },
  async (error: unknown) => {
    clearTimeout(watchdog);
    // After a signal or the time-out, what fails is what was stopped under it.
    if (stopping) return;
    log(`bench-compute: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await stopAll();
    process.exit(1);
  },
);

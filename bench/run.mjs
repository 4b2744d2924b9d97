#!/usr/bin/env node
/**
 * Benchmarks of the real system, side by side in one run, each printing a markdown table:
 *
 *   1. the floor: a bare grpc-js unary echo round trip, and Redis GET/SET (ioredis);
 *   2. our ring of 16 node processes, with the memory store and with Redis sidecars: put/get
 *      latency (sequential), throughput with 64 requests in flight, hops, time to a ready ring,
 *      RSS per node; route() hops over random keys on 16 and on 64 nodes;
 *   3. the peers: js-libp2p @libp2p/kad-dht, 16 node processes on 127.0.0.1 TCP, and the
 *      Hyperswarm DHT (hyperdht), 16 node processes on 127.0.0.1 UDP.
 *
 *   make build && node bench/run.mjs [--runs 3] [--ops 1000] [--seconds 5] [--concurrency 64]
 *
 * Everything runs on loopback. Systems take turns within every run (interleaved), so that a
 * busy shared machine slows all of them alike, and the systems not being measured are frozen
 * (SIGSTOP) meanwhile, so that idle maintenance takes no CPU from the one that is; tables show
 * medians over the runs, and ratios are medians of per-run ratios. Every process started here is stopped at the end, also on an
 * error or Ctrl-C. Not a timed test: nothing here asserts a number.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hopHistogram, latencyCdf } from './lib/charts.mjs';
import { ascending, fmt, markdownTable, mean, median, quantile } from './lib/stats.mjs';
import { cpuSeconds } from './lib/proc.mjs';
import { killEverythingNow, startGrpcFloor, startHyperdht, startKad, startRedisFloor, startRing, stopEverything } from './lib/systems.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'bootstrap-runs': { type: 'string', default: '3' },
    ops: { type: 'string', default: '1000' },
    'seq-seconds': { type: 'string', default: '6' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    nodes: { type: 'string', default: '16' },
    'big-nodes': { type: 'string', default: '64' },
    joins: { type: 'string', default: '3' },
    'route-keys': { type: 'string', default: '1000' },
    'value-bytes': { type: 'string', default: '256' },
    subnet: { type: 'string', default: '127.0.40' },
    'floor-host': { type: 'string', default: '127.0.41.1' },
    'redis-port': { type: 'string', default: '6379' },
    charts: { type: 'string', default: path.join(ROOT, 'docs') },
    'no-charts': { type: 'boolean', default: false },
    'no-kad': { type: 'boolean', default: false },
    'no-hyperdht': { type: 'boolean', default: false },
    markdown: { type: 'string' },
  },
});
const RUNS = Number(opt.runs);
const BOOT_RUNS = Number(opt['bootstrap-runs']);
const OPS = Number(opt.ops);
const SEQ_SECONDS = Number(opt['seq-seconds']);
const SECONDS = Number(opt.seconds);
const CONCURRENCY = Number(opt.concurrency);
const NODES = Number(opt.nodes);
const BIG = Number(opt['big-nodes']);
const JOINS = Number(opt.joins);
const ROUTE_KEYS = Number(opt['route-keys']);
const VALUE = Buffer.alloc(Number(opt['value-bytes']), 0x61);
const RING_TIMEOUT_MS = 180_000;
// The peer benchmark's devDependencies (bench/README.md); --no-kad runs the rest without them.
const KAD_PACKAGES = ['libp2p', '@libp2p/kad-dht', '@libp2p/tcp', '@libp2p/identify', '@libp2p/ping', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux'];
const WITH_KAD = !opt['no-kad'];
const missingKad = KAD_PACKAGES.filter((p) => !existsSync(path.join(ROOT, 'node_modules', p, 'package.json')));
if (WITH_KAD && missingKad.length > 0) {
  process.stderr.write(
    `bench: the kad-dht comparison needs ${missingKad.join(', ')} (devDependencies, see bench/README.md): ` +
      `npm install --save-exact -D libp2p@3.3.11 @libp2p/kad-dht@16.4.5 @libp2p/tcp@11.0.28 @libp2p/identify@4.1.14 @libp2p/ping@3.1.13 ` +
      `@chainsafe/libp2p-noise@17.0.0 @chainsafe/libp2p-yamux@8.0.1, or run without it: --no-kad\n`,
  );
  process.exit(2);
}
const WITH_HYPER = !opt['no-hyperdht'];
if (WITH_HYPER && !existsSync(path.join(ROOT, 'node_modules', 'hyperdht', 'package.json'))) {
  process.stderr.write('bench: the hyperdht comparison needs hyperdht (a devDependency, see bench/README.md): npm install --save-exact -D hyperdht@6.34.0, or run without it: --no-hyperdht\n');
  process.exit(2);
}

const log = (s) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const out = [];
const print = (s = '') => {
  out.push(s);
  process.stdout.write(s + '\n');
};

// ---- cleanup on every way out --------------------------------------------------------------
let stopping = false;
process.on('exit', killEverythingNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping every process started by the benchmark`);
    const hard = setTimeout(() => process.exit(130), 20_000);
    stopEverything().finally(() => {
      clearTimeout(hard);
      process.exit(130);
    });
  });
}

// ---- measurement loops ----------------------------------------------------------------------

/** Sequential ops (up to OPS or SEQ_SECONDS): latency samples and hops. */
async function sequential(op, keyOf) {
  const latencies = [];
  const hops = [];
  let errors = 0;
  let firstError;
  const end = performance.now() + SEQ_SECONDS * 1000;
  for (let i = 0; i < OPS && performance.now() < end && !stopping; i++) {
    const t0 = performance.now();
    try {
      const r = await op(i, keyOf(i), VALUE);
      latencies.push(performance.now() - t0);
      if (r?.hops !== undefined) hops.push(r.hops);
    } catch (error) {
      errors++;
      firstError ??= error.message;
    }
  }
  const sorted = ascending(latencies);
  return { n: sorted.length, sorted, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), hops: mean(hops), errors, firstError };
}

/**
 * CONCURRENCY loops for SECONDS: completed ops per second, and CPU per op: of the system's
 * processes (less `idleCores` of maintenance over the phase) and of this driver process.
 */
async function throughput(op, keyOf, system) {
  const latencies = [];
  let errors = 0;
  let firstError;
  let next = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < end && !stopping) {
      const i = next++;
      const t0 = performance.now();
      try {
        await op(i, keyOf(i), VALUE);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= error.message;
      }
    }
  };
  const pids = system.pids?.() ?? [];
  const cpu0 = pids.map(cpuSeconds);
  const driver0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const driver = process.cpuUsage(driver0);
  const busy = pids.map(cpuSeconds).reduce((sum, c, i) => sum + c - cpu0[i], 0) - (system.idleCores ?? 0) * seconds;
  const sorted = ascending(latencies);
  const n = Math.max(1, sorted.length);
  return {
    opsPerSecond: sorted.length / seconds,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    errors,
    firstError,
    processes: pids.length,
    systemCpuMs: pids.length > 0 ? (Math.max(0, busy) / n) * 1000 : NaN,
    driverCpuMs: ((driver.user + driver.system) / 1000) / n,
  };
}

/** One run of one system: sequential puts, sequential gets of them, then both under load. */
async function measureRun(system, r) {
  const seqPut = await sequential(system.put, (i) => `bench-${r}-${i}`);
  const stored = Math.max(1, seqPut.n);
  const seqGet = await sequential((i, key, v) => system.get(i + 1, key, v), (i) => `bench-${r}-${i % stored}`);
  const tputGet = await throughput((i, key, v) => system.get(i + 1, key, v), (i) => `bench-${r}-${i % stored}`, system);
  const tputPut = await throughput(system.put, (i) => `load-${r}-${i}`, system);
  for (const [what, m] of Object.entries({ seqPut, seqGet, tputGet, tputPut })) {
    if (m.errors > 0) log(`  ${system.label} run ${r + 1} ${what}: ${m.errors} errors, first: ${m.firstError}`);
  }
  log(
    `  ${system.label.padEnd(22)} run ${r + 1}: put p50 ${fmt(seqPut.p50)} ms (${seqPut.n}), get p50 ${fmt(seqGet.p50)} ms (${seqGet.n}), ` +
      `get ${fmt(tputGet.opsPerSecond, 0)}/s, put ${fmt(tputPut.opsPerSecond, 0)}/s`,
  );
  return { seqPut, seqGet, tputGet, tputPut };
}

// ---- the benchmark --------------------------------------------------------------------------

const COLORS = { grpc: '#7f7f7f', redis: '#bcbd22', mem: '#1f77b4', rds: '#2ca02c', gpc: '#17becf', kad: '#d62728', hyp: '#9467bd' };

const RING_SPECS = [
  ['mem', 'ours, memory store', () => startRing('ours, memory store', NODES, { subnet: opt.subnet, port: 7000, metricsPort: 9464, storage: 'memory' }, RING_TIMEOUT_MS)],
  ['rds', 'ours, Redis sidecars', () => startRing('ours, Redis sidecars', NODES, { subnet: opt.subnet, port: 7100, metricsPort: 9564, storage: 'redis' }, RING_TIMEOUT_MS)],
  ['gpc', 'ours, memory, gRPC peers', () => startRing('ours, memory, gRPC peers', NODES, { subnet: opt.subnet, port: 7300, metricsPort: 9764, storage: 'memory' }, RING_TIMEOUT_MS, { PASTRY_PEER_TRANSPORT: 'grpc' })],
  ['kad', 'kad-dht (js-libp2p)', () => startKad(NODES, RING_TIMEOUT_MS)],
  ['hyp', 'Hyperswarm DHT (hyperdht)', () => startHyperdht(NODES, RING_TIMEOUT_MS)],
].filter(([key]) => (WITH_KAD || key !== 'kad') && (WITH_HYPER || key !== 'hyp'));
const IDLE_SECONDS = 3;
const SETTLE_MS = 2_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU cores used per node process while nothing is asked of the system (maintenance only). */
async function idleCpuPerNode(pids) {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  await sleep(IDLE_SECONDS * 1000);
  const after = pids.map(cpuSeconds);
  return median(after.map((a, i) => (a - before[i]) / ((performance.now() - t0) / 1000)));
}

/**
 * Time to a ready system, RSS and idle CPU, each system alone on the machine, BOOT_RUNS times.
 * The last round's systems stay up, frozen (SIGSTOP), for the latency and throughput runs.
 */
async function bootstrapSamples() {
  const samples = { mem: [], rds: [], gpc: [], kad: [], hyp: [] };
  const idleRss = { mem: [], rds: [], rdsSidecar: [], gpc: [], kad: [], hyp: [] };
  const idleCpu = { mem: [], rds: [], gpc: [], kad: [], hyp: [] };
  const tables = [];
  const hypTables = [];
  let hypUnsettled = 0;
  const kept = {};
  let kadUnsettled = 0;
  for (let b = 0; b < BOOT_RUNS; b++) {
    for (const [key, label, start] of RING_SPECS) {
      const system = await start();
      system.label = label;
      samples[key].push(system.readyMs);
      await sleep(1_000); // settle before reading RSS
      const rss = system.rss();
      idleRss[key].push(median(rss.nodes));
      if (key === 'rds') idleRss.rdsSidecar.push(median(rss.sidecars));
      if (key === 'kad') tables.push(mean(system.tableSizes));
      if (key === 'kad' && !system.settled) kadUnsettled++;
      if (key === 'hyp') hypTables.push(mean(system.tableSizes));
      if (key === 'hyp' && !system.settled) hypUnsettled++;
      idleCpu[key].push(await idleCpuPerNode(system.nodePids()));
      log(
        `bootstrap ${b + 1}/${BOOT_RUNS}: ${label} ready in ${fmt(system.readyMs / 1000)} s, ${fmt(median(rss.nodes), 0)} MiB and ` +
          `${fmt(idleCpu[key].at(-1) * 100, 1)}% of a core per idle node${key === 'kad' || key === 'hyp' ? ` (routing tables ${system.tableSizes.join(',')}${system.settled ? '' : ', still changing at the 60 s cap'})` : ''}`,
      );
      if (b === BOOT_RUNS - 1) {
        // Maintenance the system does anyway, taken off its CPU per operation.
        system.idleCores = median(idleCpu[key]) * system.nodePids().length;
        system.pause();
        kept[key] = system;
      } else {
        await system.stop();
      }
    }
  }
  return { samples, idleRss, idleCpu, kadTable: median(tables), kadUnsettled, hypTable: median(hypTables), hypUnsettled, kept };
}

/** route() hop counts over `count` keys, ROUTE_IN_FLIGHT at a time (hop counts do not depend on it). */
async function routeHops(ring, count) {
  const ROUTE_IN_FLIGHT = 8;
  const hops = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      try {
        hops.push(await ring.route(i, `route-key-${i}`));
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: ROUTE_IN_FLIGHT }, worker));
  return { hops, errors };
}

async function main() {
  const t0 = performance.now();
  const cpus = os.cpus();
  log(`${cpus.length} CPUs (${cpus[0]?.model.trim()}), Node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const loadBefore = os.loadavg()[0];

  // 1. Time to a ready ring, RSS and idle CPU, each system alone; the last ones stay up, frozen.
  const boot = await bootstrapSamples();

  // 2. The systems take turns, run by run; the others are frozen (SIGSTOP) meanwhile, so that
  //    an idle ring's maintenance does not take CPU from the one being measured.
  log('starting the floors');
  const systems = [
    { key: 'grpc', label: 'gRPC echo (floor)', sys: await startGrpcFloor(opt['floor-host']) },
    { key: 'redis', label: 'Redis GET/SET (floor)', sys: await startRedisFloor(opt['floor-host'], Number(opt['redis-port'])) },
    ...RING_SPECS.map(([key, label]) => ({ key, label, sys: boot.kept[key] })),
  ];
  const turn = async (s, fn) => {
    if (stopping) throw new Error('interrupted');
    if (s.sys.resume) {
      s.sys.resume();
      await sleep(SETTLE_MS);
    }
    try {
      return await fn();
    } finally {
      s.sys.pause?.();
    }
  };
  for (const s of systems) {
    s.sys.label = s.label;
    s.runs = [];
    // Warm-up: connections, JIT, first-touch allocations (at most 100 ops or 2 s each way).
    await turn(s, async () => {
      for (const op of ['put', 'get']) {
        const end = performance.now() + 2_000;
        for (let i = 0; i < 100 && performance.now() < end; i++) await s.sys[op](op === 'put' ? i : i + 1, `warm-${i}`, VALUE).catch(() => {});
      }
    });
  }
  for (let r = 0; r < RUNS; r++) {
    log(`run ${r + 1}/${RUNS}`);
    for (const s of systems) s.runs.push(await turn(s, () => measureRun(s.sys, r)));
  }
  const loadRss = {};
  for (const s of systems.filter((x) => x.sys.rss)) loadRss[s.key] = s.sys.rss();
  const memSystem = systems.find((s) => s.key === 'mem');
  log(`route() over ${ROUTE_KEYS} keys on ${NODES} nodes`);
  const route16 = await turn(memSystem, () => routeHops(memSystem.sys, ROUTE_KEYS));
  for (const s of systems) await s.sys.stop();

  // 3. A bigger ring for route() hops alone.
  let route64;
  let bigReadyMs;
  let bigRss;
  let bigError;
  const joins = [];
  if (BIG > 0) {
    log(`starting ${BIG} nodes for route() hops`);
    let big;
    try {
      big = await startRing(`ours, ${BIG} nodes`, BIG, { subnet: opt.subnet, port: 7200, metricsPort: 9664, storage: 'memory' }, RING_TIMEOUT_MS);
      bigReadyMs = big.readyMs;
      log(`${BIG} nodes ready in ${fmt(bigReadyMs / 1000)} s; route() over ${ROUTE_KEYS} keys`);
      route64 = await routeHops(big, ROUTE_KEYS);
      bigRss = median(big.rss().nodes);
      // One pod at a time joins the running ring, the ring idle in between.
      for (let j = 0; j < JOINS; j++) {
        await new Promise((r) => setTimeout(r, 2_000));
        const joined = await big.join(60_000);
        joins.push(joined);
        log(`${joined.name} joined: ready in ${fmt(joined.readyMs)} ms, every leaf set exact in ${fmt(joined.exactMs)} ms`);
      }
    } catch (error) {
      if (stopping) throw error;
      bigError = error.message.split('\n')[0];
      log(`the ${BIG}-node ring: ${bigError}`);
    } finally {
      await big?.stop();
    }
  }

  // ---- tables ----
  const by = Object.fromEntries(systems.map((s) => [s.key, s]));
  const runsOf = (key) => by[key]?.runs ?? [];
  const med = (key, pick) => median(runsOf(key).map(pick));
  const ratio = (a, b, pick) => median(runsOf(a).map((run, i) => pick(run) / pick(runsOf(b)[i])));
  const nOf = (key, pick) => runsOf(key).map(pick).join('/');

  print(`## Benchmark results`);
  print();
  print(
    `${RUNS} runs, systems interleaved and measured one at a time (the others frozen with SIGSTOP); medians over runs. ${NODES} nodes per system, ${VALUE.length}-byte values, sequential phases of up to ${OPS} ops (at most ${SEQ_SECONDS} s), ` +
      `throughput with ${CONCURRENCY} requests in flight for ${SECONDS} s. Machine: ${cpus.length} × ${cpus[0]?.model.trim()}, Node ${process.version}, ` +
      `load average ${loadBefore.toFixed(1)} at the start and ${os.loadavg()[0].toFixed(1)} at the end.`,
  );
  print();
  print(`### 1. Latency and throughput (median of ${RUNS} runs)`);
  print();
  print(
    markdownTable(
      ['system', 'put p50 ms', 'put p99 ms', 'get p50 ms', 'get p99 ms', 'samples put/get per run', 'get ops/s (64 in flight)', 'put ops/s (64 in flight)', 'errors'],
      systems.map((s) => [
        s.label,
        fmt(med(s.key, (r) => r.seqPut.p50)),
        fmt(med(s.key, (r) => r.seqPut.p99)),
        fmt(med(s.key, (r) => r.seqGet.p50)),
        fmt(med(s.key, (r) => r.seqGet.p99)),
        `${nOf(s.key, (r) => r.seqPut.n)} / ${nOf(s.key, (r) => r.seqGet.n)}`,
        fmt(med(s.key, (r) => r.tputGet.opsPerSecond), 0),
        fmt(med(s.key, (r) => r.tputPut.opsPerSecond), 0),
        String(s.runs.reduce((n, r) => n + r.seqPut.errors + r.seqGet.errors + r.tputGet.errors + r.tputPut.errors, 0)),
      ]),
    ),
  );
  print();
  print(`For the gRPC floor, put and get are the same 256-byte echo. Latency is measured in this driver process, around the client call:`);
  print(`our ring through a gRPC client to an entry pod (pods round-robin)${WITH_KAD ? ", kad-dht through the node process's IPC channel (a kad-dht node is its own client)" : ''}.`);
  print();

  print(`### CPU per operation (${CONCURRENCY} in flight; median of ${RUNS} runs)`);
  print();
  print(
    markdownTable(
      ['system', 'get: system ms/op', 'get: driver ms/op', 'put: system ms/op', 'put: driver ms/op', 'processes'],
      systems.map((s) => [
        s.label,
        fmt(med(s.key, (r) => r.tputGet.systemCpuMs), 3),
        fmt(med(s.key, (r) => r.tputGet.driverCpuMs), 3),
        fmt(med(s.key, (r) => r.tputPut.systemCpuMs), 3),
        fmt(med(s.key, (r) => r.tputPut.driverCpuMs), 3),
        String(s.runs[0]?.tputGet.processes ?? 0),
      ]),
    ),
  );
  print();
  // The floor of an operation from echo calls in the same run: a get of h hops is the entry's
  // served call plus h forwards (a client and a served call each); a put adds the root's calls
  // to 2 more replicas (k = 3, quorum 2). Server sides are counted at the echo server's cost;
  // round trips at the echo server's plus the echo client's.
  const echoServer = (run) => run.tputGet.systemCpuMs;
  const echoTrip = (run) => run.tputGet.systemCpuMs + run.tputGet.driverCpuMs;
  const floorRows = ['mem', 'rds', 'gpc'].filter((k) => by[k]).flatMap((k) => {
    const perRun = (pick) => median(runsOf(k).map((run, i) => pick(run, runsOf('grpc')[i])));
    const getSides = (run) => 1 + 2 * run.seqGet.hops;
    const putSides = (run) => 1 + 2 * run.seqPut.hops + 4;
    return [
      [`${by[k].label}: get`, fmt(med(k, (r) => r.seqGet.hops)), fmt(perRun((run, e) => getSides(run) * echoServer(e)), 3), fmt(perRun((run, e) => run.tputGet.systemCpuMs / (getSides(run) * echoServer(e))), 1), fmt(perRun((run, e) => (run.tputGet.systemCpuMs + run.tputGet.driverCpuMs) / ((1 + run.seqGet.hops) * echoTrip(e))), 1)],
      [`${by[k].label}: put`, fmt(med(k, (r) => r.seqPut.hops)), fmt(perRun((run, e) => putSides(run) * echoServer(e)), 3), fmt(perRun((run, e) => run.tputPut.systemCpuMs / (putSides(run) * echoServer(e))), 1), fmt(perRun((run, e) => (run.tputPut.systemCpuMs + run.tputPut.driverCpuMs) / ((3 + run.seqPut.hops) * echoTrip(e))), 1)],
    ];
  });
  if (by.grpc && floorRows.length > 0) {
    print(
      markdownTable(
        ['operation', 'mean hops h', 'floor: node CPU ms/op', 'ours ÷ floor (node CPU)', 'ours ÷ floor (all processes, round trips)'],
        floorRows,
      ),
    );
    print();
    print(
      `System CPU is user + system time from /proc/<pid>/stat of every process of the system (node processes and Redis sidecars; the echo server; the Redis server; the kad-dht nodes), ` +
        `less its idle maintenance (CPU per idle node × nodes × phase length); driver CPU is this process's. ` +
        `Floor (node CPU): (1 + 2h) served echo calls for a get and (5 + 2h) for a put, at the echo server's CPU per call in the same run. ` +
        `Floor (all processes): (1 + h) echo round trips for a get and (3 + h) for a put, each at the echo server's plus the echo client's CPU.`,
    );
    print();
  }

  print(`### 2. Our ring: hops, readiness, memory`);
  print();
  const RINGS = ['mem', 'rds', 'gpc'];
  const hopStats = (h) => ({ mean: mean(h), max: Math.max(...h) });
  const r16 = hopStats(route16.hops);
  const r64 = route64 ? hopStats(route64.hops) : undefined;
  print(
    markdownTable(
      ['measure', 'memory store', 'Redis sidecars', 'memory store, gRPC peers'],
      [
        ['mean hops of put (from PutResponse.hops)', ...RINGS.map((k) => fmt(med(k, (r) => r.seqPut.hops)))],
        ['mean hops of get (from GetResponse.hops)', ...RINGS.map((k) => fmt(med(k, (r) => r.seqGet.hops)))],
        [`time to a ready ${NODES}-node ring, s (median of ${BOOT_RUNS})`, ...RINGS.map((k) => fmt(median(boot.samples[k]) / 1000))],
        ['RSS per node process when ready, MiB (median)', ...RINGS.map((k) => fmt(median(boot.idleRss[k]), 1))],
        [`CPU per idle node, % of a core (over ${IDLE_SECONDS} s, median)`, ...RINGS.map((k) => fmt(median(boot.idleCpu[k]) * 100, 1))],
        ['RSS per node process after the runs, MiB (median / max)', ...RINGS.map((k) => `${fmt(median(loadRss[k].nodes), 1)} / ${fmt(Math.max(...loadRss[k].nodes), 1)}`)],
        ['RSS per Redis sidecar after the runs, MiB (median)', '–', fmt(median(loadRss.rds.sidecars), 1), '–'],
      ],
    ),
  );
  print();
  const hopCounts = (h) => {
    const c = [];
    for (const x of h) c[x] = (c[x] ?? 0) + 1;
    return Array.from(c, (v, i) => `${i}: ${v ?? 0}`).join(', ');
  };
  print(
    markdownTable(
      ['route() over random keys', 'keys', 'mean hops', 'max hops', 'ceil(log16 N)', 'hop counts', 'errors', 'ring ready in s'],
      [
        [`${NODES} nodes`, String(route16.hops.length), fmt(r16.mean), String(r16.max), String(Math.ceil(Math.log(NODES) / Math.log(16))), hopCounts(route16.hops), String(route16.errors), fmt(median(boot.samples.mem) / 1000)],
        ...(route64
          ? [[`${BIG} nodes`, String(route64.hops.length), fmt(r64.mean), String(r64.max), String(Math.ceil(Math.log(BIG) / Math.log(16))), hopCounts(route64.hops), String(route64.errors), `${fmt(bigReadyMs / 1000)} (1 sample)`]]
          : []),
      ],
    ),
  );
  print();
  if (bigRss !== undefined) print(`RSS per node on the ${BIG}-node ring: ${fmt(bigRss, 1)} MiB (median).`);
  if (joins.length > 0) {
    const list = (pick) => joins.map((j) => fmt(pick(j), 0)).join(', ');
    print(
      `One pod at a time joining the running ${BIG}-node ring (${joins.length} joins, from the process's spawn): ready (joined) in ${fmt(median(joins.map((j) => j.readyMs)), 0)} ms median (${list((j) => j.readyMs)}); ` +
        `every leaf set of the ring exact again in ${fmt(median(joins.map((j) => j.exactMs)), 0)} ms median (${list((j) => j.exactMs)}).`,
    );
  }
  if (bigError) print(`The ${BIG}-node ring failed: ${bigError}`);
  print();

  const peers = [
    ...(WITH_KAD ? [{ key: 'kad', title: `### 3. kad-dht (js-libp2p), ${NODES} node processes on 127.0.0.1 TCP`, table: boot.kadTable, unsettled: boot.kadUnsettled, answered: 'peers that answered per put / get (mean)' }] : []),
    ...(WITH_HYPER
      ? [{ key: 'hyp', title: `### 4. Hyperswarm DHT (hyperdht), ${NODES} node processes on 127.0.0.1 UDP`, table: boot.hypTable, unsettled: boot.hypUnsettled, answered: 'peers that answered (+ stored, for a put) per put / get (mean)' }]
      : []),
  ];
  for (const peer of peers) {
    const k = peer.key;
    print(peer.title);
    print();
    print(
      markdownTable(
        ['measure', 'value'],
        [
          ['put p50 / p99 ms', `${fmt(med(k, (r) => r.seqPut.p50))} / ${fmt(med(k, (r) => r.seqPut.p99))}`],
          ['get p50 / p99 ms', `${fmt(med(k, (r) => r.seqGet.p50))} / ${fmt(med(k, (r) => r.seqGet.p99))}`],
          [`get / put ops/s, ${CONCURRENCY} in flight`, `${fmt(med(k, (r) => r.tputGet.opsPerSecond), 0)} / ${fmt(med(k, (r) => r.tputPut.opsPerSecond), 0)}`],
          [`CPU per get / put, all node processes, ms (${CONCURRENCY} in flight)`, `${fmt(med(k, (r) => r.tputGet.systemCpuMs), 3)} / ${fmt(med(k, (r) => r.tputPut.systemCpuMs), 3)}`],
          [peer.answered, `${fmt(med(k, (r) => r.seqPut.hops), 1)} / ${fmt(med(k, (r) => r.seqGet.hops), 1)}`],
          [
            `bootstrap: all joined and routing tables settled, s (median of ${BOOT_RUNS})`,
            fmt(median(boot.samples[k]) / 1000) + (peer.unsettled ? ` (${peer.unsettled} of ${BOOT_RUNS} still changing at the 60 s cap)` : ''),
          ],
          [`routing-table size when settled (mean of ${NODES - 1} possible)`, fmt(peer.table, 1)],
          ['RSS per node process when ready, MiB (median)', fmt(median(boot.idleRss[k]), 1)],
          [`CPU per idle node, % of a core (over ${IDLE_SECONDS} s, median)`, fmt(median(boot.idleCpu[k]) * 100, 1)],
          ['RSS per node process after the runs, MiB (median / max)', `${fmt(median(loadRss[k].nodes), 1)} / ${fmt(Math.max(...loadRss[k].nodes), 1)}`],
        ],
      ),
    );
    print();
  }

  print(`### Summary: ratios (medians of per-run ratios)`);
  print();
  // Columns: the floors, our Redis variant, then each peer ÷ ours.
  const cols = [
    { head: 'ours (memory) ÷ gRPC echo', a: 'mem', b: 'grpc', digits: 1 },
    { head: 'ours (memory) ÷ Redis', a: 'mem', b: 'redis', digits: 1 },
    { head: 'ours (Redis) ÷ ours (memory)', a: 'rds', b: 'mem', digits: 2 },
    { head: 'ours (gRPC peers) ÷ ours (memory)', a: 'gpc', b: 'mem', digits: 2 },
    ...peers.map((p) => ({ head: `${p.key === 'kad' ? 'kad-dht' : 'hyperdht'} ÷ ours (memory)`, a: p.key, b: 'mem', digits: 1, peer: true })),
  ];
  const row = (label, pick, digits) => [label, ...cols.map((c) => fmt(ratio(c.a, c.b, pick), digits ?? c.digits))];
  const bootRow = (label, of) => ['–', '–', ...cols.slice(2).map((c) => fmt(of(c.a) / of(c.b)))];
  print(
    markdownTable(
      ['measure', ...cols.map((c) => c.head)],
      [
        row('get p50 latency', (r) => r.seqGet.p50),
        row('get p99 latency', (r) => r.seqGet.p99),
        row('put p50 latency', (r) => r.seqPut.p50),
        row('put p99 latency', (r) => r.seqPut.p99),
        row('get throughput (ops/s)', (r) => r.tputGet.opsPerSecond, 3),
        row('put throughput (ops/s)', (r) => r.tputPut.opsPerSecond, 3),
        row('CPU per get, system processes', (r) => r.tputGet.systemCpuMs, 2),
        row('CPU per put, system processes', (r) => r.tputPut.systemCpuMs, 2),
        ['time to ready', ...bootRow('time to ready', (k) => median(boot.samples[k].map((x, i) => x / boot.samples.mem[i])) * median(boot.samples.mem))],
        ['RSS per node after the runs', ...bootRow('rss', (k) => median(loadRss[k]?.nodes ?? []))],
        ['CPU per idle node', ...bootRow('idle', (k) => median(boot.idleCpu[k]))],
      ],
    ),
  );
  print();
  print(`Latency ratios above 1 mean the right-hand system is slower; throughput ratios below 1 mean it completes fewer operations per second.`);
  print();
  log(`done in ${fmt((performance.now() - t0) / 1000, 0)} s`);

  // ---- pictures ----
  if (!opt['no-charts']) {
    mkdirSync(opt.charts, { recursive: true });
    const pooled = (key) => ascending(by[key].runs.flatMap((r) => r.seqGet.sorted));
    const cdf = path.join(opt.charts, 'bench-get-latency.png');
    writeFileSync(cdf, latencyCdf(systems.map((s) => ({ label: s.label, color: COLORS[s.key], sorted: pooled(s.key) })), `Sequential get latency, ${NODES} nodes, all runs pooled`));
    const groups = [{ label: `${NODES} nodes`, color: COLORS.mem, hops: route16.hops }];
    if (route64) groups.push({ label: `${BIG} nodes`, color: '#ff7f0e', hops: route64.hops });
    const hist = path.join(opt.charts, 'bench-route-hops.png');
    writeFileSync(hist, hopHistogram(groups, `route(): forwarding hops over ${ROUTE_KEYS} keys`));
    log(`pictures: ${path.relative(process.cwd(), cdf)}, ${path.relative(process.cwd(), hist)}`);
  }
  if (opt.markdown) writeFileSync(opt.markdown, out.join('\n') + '\n');
}

main()
  .catch(async (error) => {
    log(`benchmark failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopEverything();
    process.exit(process.exitCode ?? 0);
  });

/**
 * What tracing costs: throughput of concurrent gets on a local ring with tracing off, and on
 * with 100% and 1% sampling (spans exported over OTLP/HTTP protobuf to a sink in this
 * process). Prints a table of medians over several runs: gets/s, and the CPU time all node
 * processes spent per get (from /proc), which a busy shared machine disturbs far less than
 * throughput. Not a timed assertion.
 *
 *   make build && npx tsc -p bench/tsconfig.json && node dist/bench/observability-overhead.js \
 *     [--nodes 16] [--concurrency 64] [--seconds 5] [--runs 5] [--subnet 127.0.15]
 *
 * One ring per mode runs side by side (ports 7000, 7100, 7200 on the same addresses) and the
 * modes take turns run by run, so that a busy shared machine slows all of them alike.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpuSecondsOf } from './proc';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PastryClient } from '../services/cli/src/client';
import { DEFAULT_CLUSTER, clusterDown, clusterUp, type ClusterState } from '../services/cli/src/cluster';

interface Mode {
  name: string;
  env: NodeJS.ProcessEnv;
}

interface Run {
  opsPerSecond: number;
  /** CPU time of all node processes per get: what tracing costs, less sensitive to a busy machine than gets/s. */
  cpuMsPerGet: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '5' },
    keys: { type: 'string', default: '256' },
    subnet: { type: 'string', default: '127.0.15' },
  },
});
const NODES = Number(values.nodes);
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const KEYS = Number(values.keys);

/** An OTLP/HTTP endpoint that accepts every export and counts the bytes. */
async function startSink(): Promise<{ url: string; bytes: () => number; requests: () => number; stop: () => Promise<void> }> {
  let bytes = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    bytes: () => bytes,
    requests: () => requests,
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}


/** User + system CPU seconds of processes, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid, NaN), 0);
}

/** CONCURRENCY loops of gets, spread over every pod as entry node, for SECONDS. */
async function measure(clients: PastryClient[], pids: number[]): Promise<Run> {
  const cpu0 = cpuSeconds(pids);
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < end) {
      const i = next++;
      const client = clients[(i + w) % clients.length]!;
      const t0 = performance.now();
      try {
        await client.get(`bench-${i % KEYS}`);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const cpuMsPerGet = ((cpuSeconds(pids) - cpu0) * 1000) / Math.max(1, latencies.length);
  return { opsPerSecond: latencies.length / elapsed, cpuMsPerGet, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), errors };
}

interface RingUnderTest {
  mode: Mode;
  runDir: string;
  clients: PastryClient[];
  pids: number[];
  runs: Run[];
  /** This ring's own OTLP endpoint, so that exported bytes are told apart. */
  sink: Awaited<ReturnType<typeof startSink>>;
}

/** One ring per mode, side by side on the same addresses with their own ports. */
async function startRing(mode: Mode, index: number): Promise<RingUnderTest> {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-bench-'));
  const sink = await startSink();
  // Slow maintenance: three idle rings' leaf-set exchanges would otherwise load the machine.
  const env = { ...process.env, PASTRY_LOG_LEVEL: 'warn', PASTRY_MAINTENANCE_INTERVAL_MS: '5000', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, ...mode.env };
  const ring: RingUnderTest = { mode, runDir, clients: [], pids: [], runs: [], sink };
  try {
    const options = { ...DEFAULT_CLUSTER, runDir, subnet: values.subnet!, port: 7000 + 100 * index, metricsPort: 9464 + 100 * index };
    const state = await clusterUp(NODES, options, 120_000, env);
    ring.clients.push(...state.pods.map((p) => new PastryClient(p.address, 10_000)));
    ring.pids.push(...state.pods.map((p) => p.pid));
    for (let i = 0; i < KEYS; i++) await ring.clients[i % ring.clients.length]!.put(`bench-${i}`, Buffer.alloc(256, i % 251));
    return ring;
  } catch (error) {
    await stopRing(ring);
    throw error;
  }
}

async function stopRing(ring: RingUnderTest): Promise<void> {
  ring.clients.forEach((c) => c.close());
  await clusterDown(ring.runDir, 10_000);
  rmSync(ring.runDir, { recursive: true, force: true });
  await ring.sink.stop();
}

async function main(): Promise<void> {
  const modes: Mode[] = [
    { name: 'tracing off', env: { OTEL_TRACES_EXPORTER: 'none' } },
    { name: 'tracing on, 100% sampled', env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_always_on' } },
    { name: 'tracing on, 1% sampled', env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' } },
  ];
  process.stderr.write(`${NODES} nodes per ring, ${CONCURRENCY} concurrent gets for ${SECONDS} s, ${RUNS} runs per mode (interleaved), ${os.cpus().length} CPUs\n`);
  const rings: RingUnderTest[] = [];
  const exported = new Map<string, number>();
  try {
    for (const [i, mode] of modes.entries()) rings.push(await startRing(mode, i));
    for (const ring of rings) await measure(ring.clients, ring.pids); // warm-up: channels, JIT
    // Modes take turns, so that the load of a shared machine falls on all of them alike.
    for (let r = 0; r < RUNS; r++) {
      for (const ring of rings) {
        const run = await measure(ring.clients, ring.pids);
        ring.runs.push(run);
        process.stderr.write(`  ${ring.mode.name} run ${r + 1}: ${run.opsPerSecond.toFixed(0)} gets/s, ${run.cpuMsPerGet.toFixed(2)} CPU ms/get, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms${run.errors ? `, ${run.errors} errors` : ''}\n`);
      }
    }
  } finally {
    for (const ring of rings) {
      exported.set(ring.mode.name, ring.sink.bytes());
      await stopRing(ring);
    }
  }
  const rows = rings.map((ring) => ({ mode: ring.mode.name, runs: ring.runs, exportedKiB: (exported.get(ring.mode.name) ?? 0) / 1024 / ((RUNS + 1) * SECONDS) }));
  const base = median(rows[0]!.runs.map((r) => r.opsPerSecond));
  const baseCpu = median(rows[0]!.runs.map((r) => r.cpuMsPerGet));
  const header = ['mode', 'median gets/s', 'vs off', 'CPU ms/get', 'vs off', 'median p50 ms', 'median p99 ms', 'errors', 'OTLP KiB/s exported'];
  const table = rows.map((row) => {
    const ops = median(row.runs.map((r) => r.opsPerSecond));
    return [
      row.mode,
      ops.toFixed(0),
      (ops / base).toFixed(3),
      median(row.runs.map((r) => r.cpuMsPerGet)).toFixed(3),
      (median(row.runs.map((r) => r.cpuMsPerGet)) / baseCpu).toFixed(3),
      median(row.runs.map((r) => r.p50Ms)).toFixed(2),
      median(row.runs.map((r) => r.p99Ms)).toFixed(2),
      String(row.runs.reduce((n, r) => n + r.errors, 0)),
      row.exportedKiB.toFixed(1),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  process.stdout.write([line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...table.map(line)].join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`observability-overhead: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

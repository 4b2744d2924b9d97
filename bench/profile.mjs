#!/usr/bin/env node
/**
 * Where a loaded node's CPU goes: a local ring with every pod under `node --cpu-prof`, gets (or
 * puts) with C requests in flight, all through pod 0 (the entry) for keys whose answering node is
 * one other pod (the root). Writes flame graphs of the entry and the root over the loaded window
 * only, and prints CPU per operation and the self time by category and by function.
 *
 *   make build && node bench/profile.mjs [--op get|put] [--nodes 16] [--seconds 10] [--concurrency 64] [--out docs] [--name after]
 *
 * Loopback only (127.0.42.x); the ring is stopped at the end, also on an error or Ctrl-C.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadBuild } from './lib/build.mjs';
import { flameGraphSvg, selfTime } from './lib/flamegraph.mjs';
import { cpuSeconds, killQuietly } from './lib/proc.mjs';
import { fmt, markdownTable } from './lib/stats.mjs';

const { values: opt } = parseArgs({
  options: {
    op: { type: 'string', default: 'get' },
    nodes: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    keys: { type: 'string', default: '200' },
    subnet: { type: 'string', default: '127.0.42' },
    out: { type: 'string', default: 'docs' },
    name: { type: 'string', default: 'current' },
  },
});
const OP = opt.op;
if (OP !== 'get' && OP !== 'put') throw new Error(`--op must be get or put, not ${OP}`);
const NODES = Number(opt.nodes);
const SECONDS = Number(opt.seconds);
const CONCURRENCY = Number(opt.concurrency);
const KEYS = Number(opt.keys);
const VALUE = Buffer.alloc(256, 0x61);
const log = (s) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const { cluster, client } = loadBuild();

const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-profile-'));
const profDir = path.join(runDir, 'profiles');
mkdirSync(profDir);
let state;
let clients = [];
const stop = async () => {
  clients.forEach((c) => c.close());
  if (state) await cluster.clusterDown(runDir, 10_000).catch(() => state.pods.forEach((p) => killQuietly(p.pid)));
};
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stop().finally(() => process.exit(130)));

async function main() {
  const env = { ...process.env, PASTRY_LOG_LEVEL: 'warn', OTEL_SDK_DISABLED: 'true', PASTRY_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${profDir}` };
  log(`starting ${NODES} pods under --cpu-prof`);
  state = await cluster.clusterUp(NODES, { ...cluster.DEFAULT_CLUSTER, subnet: opt.subnet, runDir }, 120_000, env);
  clients = state.pods.map((p) => new client.PastryClient(p.address, 10_000));
  const entry = clients[0];
  // Keys the entry forwards, all answered by one node: the busiest such node is the root.
  const answerer = new Map();
  for (let i = 0; i < KEYS * 8; i++) {
    const key = `profile-${i}`;
    if (OP === 'get') await entry.put(key, VALUE);
    const r = OP === 'get' ? await entry.get(key) : await entry.route(key);
    const at = r.root?.address;
    if (r.hops.length === 0 || !at || at === state.pods[0].address) continue;
    answerer.set(at, [...(answerer.get(at) ?? []), key]);
  }
  const [rootAddress, keys] = [...answerer].sort((a, b) => b[1].length - a[1].length)[0];
  const rootPod = state.pods.find((p) => p.address === rootAddress);
  log(`entry ${state.pods[0].name}, root ${rootPod.name} (${keys.length} keys); ${OP}s for ${SECONDS} s, ${CONCURRENCY} in flight`);
  const pids = state.pods.map((p) => p.pid);
  await new Promise((r) => setTimeout(r, 1_000));
  const idle0 = pids.map(cpuSeconds);
  await new Promise((r) => setTimeout(r, 3_000));
  const idlePerSecond = pids.map(cpuSeconds).map((c, i) => (c - idle0[i]) / 3);

  const before = pids.map(cpuSeconds);
  const from = Number(process.hrtime.bigint() / 1000n);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let ops = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; performance.now() < end; i += CONCURRENCY) {
        const key = keys[i % keys.length];
        try {
          await (OP === 'get' ? entry.get(key) : entry.put(key, VALUE));
          ops++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const to = Number(process.hrtime.bigint() / 1000n);
  const seconds = (performance.now() - t0) / 1000;
  const busy = pids.map(cpuSeconds).map((c, i) => c - before[i] - idlePerSecond[i] * seconds);
  const rootIndex = state.pods.indexOf(rootPod);
  const entryName = state.pods[0].name;
  await stop();
  state = undefined;

  const profileOf = (pid) => JSON.parse(readFileSync(path.join(profDir, readdirSync(profDir).find((f) => f.includes(`.${pid}.`))), 'utf8'));
  const entryProfile = profileOf(pids[0]);
  const rootProfile = profileOf(pids[rootIndex]);
  mkdirSync(opt.out, { recursive: true });
  const files = [];
  for (const [role, profile] of [['entry', entryProfile], ['root', rootProfile]]) {
    const file = path.join(opt.out, `profile-${OP}-${role}-${opt.name}.svg`);
    writeFileSync(file, flameGraphSvg(profile, `${role} node, ${OP}s at ${CONCURRENCY} in flight (${opt.name})`, from, to));
    files.push(file);
  }
  const ms = (cpu) => fmt((cpu / Math.max(1, ops)) * 1000, 3);
  console.log(`## CPU profile: ${OP}, ${NODES} nodes, ${CONCURRENCY} in flight, ${SECONDS} s (${opt.name})\n`);
  console.log(`${ops} ${OP}s (${fmt(ops / seconds, 0)}/s), ${errors} errors; idle maintenance subtracted.\n`);
  console.log(
    markdownTable(
      ['process', 'CPU ms per op'],
      [
        [`entry (${entryName})`, ms(busy[0])],
        [`root (${rootPod.name})`, ms(busy[rootIndex])],
        ['all node processes', ms(busy.reduce((a, b) => a + b, 0))],
      ],
    ),
  );
  for (const [role, profile] of [['entry', entryProfile], ['root', rootProfile]]) {
    const s = selfTime([profile], from, to);
    console.log(`\n### ${role}: self time by category (${fmt(s.totalMs, 0)} ms busy in the window)\n`);
    console.log(markdownTable(['category', 'share'], s.categories.map(([k, v]) => [k, `${fmt(v * 100, 1)} %`])));
    console.log(`\n### ${role}: top functions by self time\n`);
    console.log(markdownTable(['function', 'share'], s.functions.map(([k, v]) => [k.replace(/\|/g, '\\|'), `${fmt(v * 100, 1)} %`])));
  }
  console.log(`\nflame graphs: ${files.join(', ')}`);
}

main()
  .catch(async (error) => {
    log(`profile failed: ${error?.stack ?? error}`);
    process.exitCode = 1;
    await stop();
  })
  .finally(() => rmSync(runDir, { recursive: true, force: true }));

import { getHeapStatistics } from 'node:v8';
import { UsageError, type FlagSpecs, type FlagValues } from './args';
import { PAPER_DISTANCE, runDistance } from './experiments/distance';
import { PAPER_FAILURES, runFailures } from './experiments/failures';
import { PAPER_HOPS, runHops } from './experiments/hops';
import { PAPER_REPLICAS, runReplicas } from './experiments/replicas';
import { runBalance } from './experiments/balance';
import { runScale } from './experiments/scale';
import { DEFAULT_GROUPS, PAPER_SCRIBE, runScribe, type ScribeResult } from './experiments/scribe';
import { DEFAULT_MAX_CHILDREN } from './experiments/scribe-tree';
import { formatNumber, percent, table } from './format';
import { createScenario, DEFAULT_SCENARIO, type BuildKind, type NetworkKind, type ScenarioOptions } from './scenario';
import { memoryMb, round } from './stats';
import { PAPER_CONFIG } from './world';

/** Flags every experiment takes; each command sets its own defaults for nodes, lookups, build. */
function commonFlags(nodes: number, lookups: number, build: BuildKind, tableRefreshes = 0) {
  return {
    nodes: { type: 'int', default: nodes, min: 1, max: 2_000_000, help: 'nodes in the ring' },
    lookups: { type: 'int', default: lookups, min: 0, max: 100_000_000, help: 'lookups to route' },
    seed: { type: 'int', default: 1, min: 0, max: 2 ** 32 - 1, help: 'random seed: same seed, same output' },
    build: { type: 'choice', default: build, choices: ['join', 'oracle'], help: 'join protocol, or direct oracle build' },
    network: { type: 'choice', default: 'plane', choices: ['plane', 'matrix'], help: 'Euclidean plane or synthetic latency matrix' },
    'matrix-file': { type: 'string', default: undefined, help: 'latency matrix to load (JSON rows or text); one row per node' },
    candidates: { type: 'int', default: DEFAULT_SCENARIO.candidates, min: 1, max: 1_000_000, help: 'oracle: candidates per routing-table slot' },
    'bootstrap-sample': { type: 'int', default: 0, min: 0, max: 1_000_000, help: 'join: 0 joins via the nearest node, k via nearest of k sampled' },
    loss: { type: 'float', default: 0, min: 0, max: 0.5, help: 'probability that a message is lost' },
    'timeout-ms': { type: 'float', default: PAPER_CONFIG.timeoutMs, min: 1, max: 1e9, help: 'virtual ms before a sender gives up on an answer' },
    retries: { type: 'int', default: PAPER_CONFIG.retries, min: 0, max: 10, help: 'retransmissions before a peer is presumed dead' },
    'table-refreshes': {
      type: 'int',
      default: tableRefreshes,
      min: 0,
      max: 10_000,
      help: "routing-table refreshes per node after the build, as a live ring runs them (one per 20 s by default)",
    },
    json: { type: 'bool', help: 'print one JSON object instead of a table' },
  } satisfies FlagSpecs;
}

type Common = FlagValues<ReturnType<typeof commonFlags>>;

function scenarioOptions(f: Common): ScenarioOptions {
  return {
    nodes: f.nodes,
    seed: f.seed,
    build: f.build as BuildKind,
    network: f.network as NetworkKind,
    matrixFile: f['matrix-file'],
    candidates: f.candidates,
    bootstrapSample: f['bootstrap-sample'],
    tableRefreshes: f['table-refreshes'],
    config: { ...PAPER_CONFIG, lossRate: f.loss, timeoutMs: f['timeout-ms'], retries: f.retries },
  };
}

export interface Command {
  summary: string;
  flags: FlagSpecs;
  run(flags: Record<string, unknown>, out: (line: string) => void): void | Promise<void>;
}

const hopsFlags = commonFlags(10_000, 100_000, 'oracle');
/** The locality experiments measure a ring after about five minutes of its table maintenance. */
const LIVED_REFRESHES = 16;
const distanceFlags = commonFlags(5_000, 20_000, 'join', LIVED_REFRESHES);
const failuresFlags = {
  ...commonFlags(5_000, 200_000, 'join'),
  'fail-fraction': { type: 'float', default: 0.1, min: 0, max: 0.5, help: 'fraction of nodes that fail silently' },
} satisfies FlagSpecs;
const replicasFlags = {
  ...commonFlags(5_000, 20_000, 'join', LIVED_REFRESHES),
  replicas: { type: 'int', default: PAPER_REPLICAS.replicas, min: 1, max: 16, help: 'replicas per key (k)' },
} satisfies FlagSpecs;
const scaleFlags = commonFlags(100_000, 1_000_000, 'oracle');
// Scribe routes JOINs and publishes, never random lookups: no --lookups flag.
const { lookups: _noLookups, ...scribeCommon } = commonFlags(10_000, 0, 'oracle');
const scribeFlags = {
  ...scribeCommon,
  groups: { type: 'int', default: DEFAULT_GROUPS, min: 1, max: 100_000, help: 'topics, each with its own tree (paper: 1,500)' },
  members: { type: 'int', default: 0, min: 0, max: 2_000_000, help: 'members of every group; 0 = Zipf-like sizes from 11 up to N, as in the paper' },
  zipf: { type: 'bool', help: 'Zipf-like group sizes (the default; the same as --members 0)' },
  'max-children': { type: 'int', default: DEFAULT_MAX_CHILDREN, min: 0, max: 2_000_000, help: 'children per node and topic before push-down; 0 = no cap' },
} satisfies FlagSpecs;
const balanceFlags = {
  nodes: { type: 'int', default: 64, min: 1, max: 100_000, help: 'pods of the StatefulSet (pastry-0..N-1)' },
  objects: { type: 'int', default: 100_000, min: 1, max: 100_000_000, help: 'random keys stored' },
  replicas: { type: 'int', default: 3, min: 1, max: 16, help: 'replicas per key (k)' },
  seed: { type: 'int', default: 1, min: 0, max: 2 ** 32 - 1, help: 'random seed of the keys' },
  json: { type: 'bool', help: 'print one JSON object instead of a table' },
} satisfies FlagSpecs;

function refreshNote(r: { tableRefreshes: number; tableProbesPerNode: number; tableSlotsImprovedPerNode: number }): string {
  if (r.tableRefreshes === 0) return '';
  return `, then ${r.tableRefreshes} table refreshes per node (${r.tableProbesPerNode} probes, ${r.tableSlotsImprovedPerNode} slots made nearer)`;
}

/** Rough heap per simulated node (measured: ~7.5 KB at 100,000 nodes), with headroom. */
const BYTES_PER_NODE = 10_000;

export const COMMANDS: Record<string, Command> = {
  hops: {
    summary: 'hop counts and their distribution (paper Fig. 2/3)',
    flags: hopsFlags,
    run(raw, out) {
      const f = raw as Common;
      const r = runHops(createScenario(scenarioOptions(f)), f.lookups);
      if (f.json) return out(JSON.stringify(r));
      out(`hops: ${r.nodes} nodes, ${r.lookups} lookups, ${r.build} build (${r.buildMs} ms), routed in ${r.routeMs} ms`);
      const rows: (string | number)[][] = [
        ['mean hops', r.meanHops, PAPER_HOPS.meanHops],
        ['max hops', r.maxHops, PAPER_HOPS.maxHops],
        ['log16(N) + 1 bound', Math.log(r.nodes) / Math.log(16) + 1, Math.log(PAPER_HOPS.nodes) / Math.log(16) + 1],
      ];
      const maxKey = Math.max(r.maxHops, PAPER_HOPS.maxHops);
      for (let h = 0; h <= maxKey; h++) rows.push([`P(${h} hops)`, r.distribution[String(h)] ?? 0, PAPER_HOPS.distribution[String(h)] ?? 0]);
      rows.push(['correct deliveries', percent(r.correct), '100%']);
      table(['metric', 'ours', `paper (N=${PAPER_HOPS.nodes})`], rows).forEach((l) => out(l));
    },
  },
  distance: {
    summary: 'route distance relative to the direct distance (paper Fig. 5)',
    flags: distanceFlags,
    run(raw, out) {
      const f = raw as Common;
      const r = runDistance(createScenario(scenarioOptions(f)), f.lookups);
      if (f.json) return out(JSON.stringify(r));
      out(`distance: ${r.nodes} nodes, ${r.lookups} lookups, ${r.build} build (${r.buildMs} ms)${refreshNote(r)}, routed in ${r.routeMs} ms`);
      table(['metric', 'ours', 'paper'], [
        ['route / direct distance', r.ratio, `${PAPER_DISTANCE.ratioLow}-${PAPER_DISTANCE.ratioHigh}`],
        ['mean of per-lookup ratios', r.meanLookupRatio, '-'],
        ['mean route distance', r.meanRouteDistance, '-'],
        ['mean direct distance', r.meanDirectDistance, '-'],
        ['mean hops', r.meanHops, '-'],
        ['correct deliveries', percent(r.correct), '100%'],
      ]).forEach((l) => out(l));
    },
  },
  failures: {
    summary: "node crashes, repaired by the node's own protocol: hops before, without table repair, after (paper Sec. 5)",
    flags: failuresFlags,
    async run(raw, out) {
      const f = raw as FlagValues<typeof failuresFlags>;
      const r = await runFailures(createScenario(scenarioOptions(f)), f.lookups, f['fail-fraction']);
      if (f.json) return out(JSON.stringify(r));
      out(`failures: ${r.nodes} nodes, ${r.failed} crashed, ${r.lookups} lookups per phase, ${r.build} build (${r.buildMs} ms), ran ${r.runMs} ms`);
      out('every node runs services/node/src/overlay: its leaf-set maintenance, failure detection and repair');
      table(['metric', 'ours', 'paper'], [
        ['hops before failures', r.before.meanHops, PAPER_FAILURES.hopsBefore],
        ['hops after, no table repair', r.afterNoRepair.meanHops, PAPER_FAILURES.hopsNoRepair],
        ['hops after table repair', r.afterRepair.meanHops, PAPER_FAILURES.hopsRepaired],
        ['repair RPCs per failed node', r.repairRpcsPerFailedNode, PAPER_FAILURES.repairRpcsPerFailedNode],
        ['  of which routing table', r.tableRepairRpcsPerFailedNode, '-'],
        ['  of which row requests', r.failed === 0 ? 0 : round(r.tableRowRequests / r.failed, 2), '-'],
        ['timeouts (before/no repair/repaired)', `${r.before.timeouts}/${r.afterNoRepair.timeouts}/${r.afterRepair.timeouts}`, '-'],
        ['correct (before/no repair/repaired)', `${percent(r.before.correct)}/${percent(r.afterNoRepair.correct)}/${percent(r.afterRepair.correct)}`, '100%'],
        ['dead table entries before/after repair', `${r.deadEntriesBeforeRepair}/${r.deadEntriesAfterRepair}`, '-'],
        ['wrong leaf sets after leaf repair', r.leafSetMismatches, '-'],
        ['virtual s to exact leaf sets / table repair', `${r.leafRepairVirtualMs / 1000}/${r.tableRepairVirtualMs / 1000}`, '-'],
        ['keep-alives / suspect probes / table checks', `${r.keepAlives}/${r.suspectProbes}/${r.entryChecks}`, '-'],
        ['table-check passes until none found dead', r.tableCheckPasses, '-'],
      ]).forEach((l) => out(l));
    },
  },
  replicas: {
    summary: 'how often a lookup reaches the nearest of k replicas first (paper Sec. 5)',
    flags: replicasFlags,
    run(raw, out) {
      const f = raw as FlagValues<typeof replicasFlags>;
      const r = runReplicas(createScenario(scenarioOptions(f)), f.lookups, f.replicas);
      if (f.json) return out(JSON.stringify(r));
      out(`replicas: ${r.nodes} nodes, ${r.lookups} lookups, k=${r.replicas}, ${r.build} build (${r.buildMs} ms)${refreshNote(r)}, routed in ${r.routeMs} ms`);
      table(['metric', 'ours', `paper (k=${PAPER_REPLICAS.replicas})`], [
        ['nearest replica reached first', percent(r.nearestFirst), percent(PAPER_REPLICAS.nearestFirst)],
        ['  with the heuristic', percent(r.nearestFirstHeuristic), percent(PAPER_REPLICAS.nearestFirstHeuristic)],
        ['one of the 2 nearest first', percent(r.twoNearestFirst), '-'],
        ['  with the heuristic', percent(r.twoNearestFirstHeuristic), '-'],
      ]).forEach((l) => out(l));
    },
  },
  balance: {
    summary: 'objects per pod, max/mean, with pod ids from the name or spread by ordinal (PASTRY_ID_SCHEME)',
    flags: balanceFlags,
    run(raw, out) {
      const f = raw as FlagValues<typeof balanceFlags>;
      const r = runBalance(f.nodes, f.objects, f.replicas, f.seed);
      if (f.json) return out(JSON.stringify(r));
      out(`balance: ${r.nodes} pods, ${r.objects} objects, k=${r.replicas}; the node's own id code`);
      const [name, spread] = r.schemes;
      table(['objects per pod', 'name ids (SHA-256)', 'spread ids'], [
        ['max / mean', name!.maxOverMean, spread!.maxOverMean],
        ['min / mean', name!.minOverMean, spread!.minOverMean],
        ['stddev / mean', name!.cv, spread!.cv],
      ]).forEach((l) => out(l));
    },
  },
  scale: {
    summary: 'build and routing time and memory at large N (oracle build)',
    flags: scaleFlags,
    run(raw, out) {
      const f = raw as Common;
      checkHeap(f.nodes);
      const scenario = createScenario(scenarioOptions(f));
      const r = runScale(scenario, f.lookups, memoryMb());
      if (f.json) return out(JSON.stringify(r));
      out(`scale: ${r.nodes} nodes, ${r.lookups} lookups, ${r.build} build`);
      table(['metric', 'ours', `paper (N=${PAPER_HOPS.nodes})`], [
        ['build time', `${(r.buildMs / 1000).toFixed(1)} s`, '-'],
        ['routing time', `${(r.routeMs / 1000).toFixed(1)} s (${r.lookupsPerSecond}/s)`, '-'],
        ['mean hops', r.meanHops, PAPER_HOPS.meanHops],
        ['max hops', r.maxHops, PAPER_HOPS.maxHops],
        ['correct deliveries', percent(r.correct), '100%'],
        ['rss / heap after build', `${r.rssMbAfterBuild} / ${r.heapUsedMbAfterBuild} MB`, '-'],
        ['rss / heap at the end', `${r.rssMb} / ${r.heapUsedMb} MB`, '-'],
      ]).forEach((l) => out(l));
    },
  },
  scribe: {
    summary: 'Scribe multicast trees: delay penalty, tree depth, node stress, link stress per overlay link (Scribe paper Sec. 4)',
    flags: scribeFlags,
    run(raw, out) {
      const f = raw as FlagValues<typeof scribeFlags>;
      if (f.zipf && f.members > 0) throw new UsageError('--zipf and --members are exclusive: --zipf is --members 0');
      checkHeap(f.nodes);
      const scenario = createScenario(scenarioOptions({ ...f, lookups: 0 }));
      const r = runScribe(scenario, { groups: f.groups, members: f.members, maxChildren: f['max-children'] });
      if (f.json) return out(JSON.stringify(r));
      printScribe(r, out);
    },
  },
};

function printScribe(r: ScribeResult, out: (line: string) => void): void {
  const sizes = r.sizes === 'zipf' ? `Zipf-like sizes ${r.groupSize.min}..${r.groupSize.max}` : `${r.groupSize.max} members each`;
  const cap = r.maxChildren === 0 ? 'no children cap' : `children cap ${r.maxChildren}`;
  out(`scribe: ${r.nodes} nodes, ${r.groups} groups (${sizes}; ${r.members} members), ${cap}, ${r.build} build (${r.buildMs} ms), ran ${r.runMs} ms`);
  out('link stress counts messages per overlay link (directed node pair), not per physical link as the paper does');
  const p = PAPER_SCRIBE;
  const ns = r.nodeStress;
  const [scribe, unicast] = [r.linkStress.scribe, r.linkStress.unicast];
  table(['metric', 'ours', `paper (N=${formatNumber(p.nodes)}, ${formatNumber(p.groups)} groups, no cap)`], [
    ['RDP, max-delay based (mean of groups)', r.rdp.maxDelayBased, p.rdpMaxDelay],
    ['RDP, average-delay based (mean of groups)', r.rdp.averageDelayBased, p.rdpAverageDelay],
    ['RDP per member, median / 90th percentile', `${r.rdp.median} / ${r.rdp.p90}`, '-'],
    ['tree depth, mean / max', `${r.depth.mean} / ${r.depth.max}`, '≈ Pastry hops'],
    ['Pastry hops member to root, mean / max', `${r.routeHops.mean} / ${r.routeHops.max}`, '-'],
    ['JOIN hops until the tree, mean', r.joinHops, '-'],
    ['children tables per node, mean / max', `${ns.tablesMean} / ${ns.tablesMax}`, `${p.tablesMean} / ${p.tablesMax}`],
    ['children-table entries per node, mean / max', `${ns.entriesMean} / ${formatNumber(ns.entriesMax)}`, `${p.entriesMean} / ${formatNumber(p.entriesMax)}`],
    ['nodes holding a children table', ns.nodesWithChildren, '-'],
    ['largest children table / push-downs', `${r.children.largestTable} / ${formatNumber(r.children.pushDowns)}`, '- (no cap)'],
    ['link stress Scribe, mean / max per link', `${scribe.mean} / ${formatNumber(scribe.max)}`, `max ${formatNumber(p.linkStressMax)} (physical)`],
    ['link stress unicast from root, mean / max', `${unicast.mean} / ${formatNumber(unicast.max)}`, `IP multicast max ${p.ipMulticastLinkStressMax}`],
    ['messages per publish to all groups, Scribe / unicast', `${formatNumber(scribe.messages)} / ${formatNumber(unicast.messages)}`, '-'],
    ['most sent by one node, Scribe / unicast', `${formatNumber(scribe.maxSentByNode)} / ${formatNumber(unicast.maxSentByNode)}`, '-'],
  ]).forEach((l) => out(l));
}

/** Fails early, with the fix, instead of crashing hours in when the heap cannot hold the ring. */
function checkHeap(nodes: number): void {
  const limit = getHeapStatistics().heap_size_limit;
  const needed = nodes * BYTES_PER_NODE;
  if (needed > limit) {
    const mb = Math.ceil((needed * 1.25) / 2 ** 20 / 1024) * 1024;
    throw new HeapTooSmall(
      `${nodes} nodes need about ${Math.round(needed / 2 ** 20)} MB of heap but the limit is ${Math.round(limit / 2 ** 20)} MB; ` +
        `run with NODE_OPTIONS=--max-old-space-size=${mb}`,
    );
  }
}

export class HeapTooSmall extends Error {
  override readonly name = 'HeapTooSmall';
}

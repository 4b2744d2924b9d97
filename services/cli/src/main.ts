#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DEFAULT_CLUSTER, readState } from './cluster';
import { DEFAULT_NETNS_SUBNET } from './netns/network';
import { ClientError, PastryClient } from './client';
import { clusterCommand } from './cluster-command';
import { UsageError, balanceCommand, getCommand, objectsCommand, putCommand, removeCommand, ringCommand, routeCommand, statusCommand, type Io } from './commands';
import { demoCommand } from './demo';
import { fileCommand } from './files-command';
import { computeCommand } from './compute-command';
import { chatCommand } from './chat';
import { isMessagingCommand, messagingCommand, publisherOf } from './messaging-command';
import { chaosCommand } from './chaos/chaos-command';
import { runSimCommand } from '../../sim/src/cli';
import { DEFAULT_MONITOR, monitorCommand } from './monitor';
import { traceRouteCommand } from './trace-route';

const HELP = `pastry — client and local-ring tool for Pastry on Kubernetes

Usage:
  pastry put <name> <value>         store a named object; prints its GUID
  pastry put --file F [name]        store a file (content-addressed without a name)
  pastry get <name-or-guid>         write the value's bytes to stdout
  pastry rm <name-or-guid>          remove an object
  pastry file put PATH              store a file of any size as chunks; prints its GUID
  pastry file get GUID -o PATH      fetch it, verified (resumes a partial PATH; -o - for stdout)
  pastry file stat GUID             size, chunks, Merkle root, where each chunk's replicas live
  pastry file rm GUID               remove the file (its chunks and its manifest)
  pastry compute run MODULE.wasm --input GUID   run a WebAssembly job over a file's chunks, one unit per chunk
                    [--objects GUID,...] [--reduce concat|sum|FUNCTION] [--redundancy R] [--arg TEXT]
  pastry compute status JOB         a job's progress, on the node that coordinates it
  pastry pub TOPIC MESSAGE          publish to a topic (MESSAGE - reads stdin); prints sequence and id
  pastry sub TOPIC [--from N]       print a topic's messages as they come (from sequence N: retained ones first)
  pastry sub --inbox NAME           print the messages sent to the inbox NAME
  pastry send NAME MESSAGE          a direct message to the inbox NAME; prints sequence and id
  pastry anycast TOPIC MESSAGE      deliver to one subscriber of the topic; prints the node that took it
  pastry chat ROOM [--name ME]      a terminal chat on topic chat/ROOM (the last 20 messages, then live)
  pastry route <name-or-guid>       the hop path to the key's root
  pastry route <key> --trace        the hop path with per-hop latency and the trace id
  pastry status                     the target node's state
  pastry ring                       every member the target can reach, with leaf sets
  pastry balance                    live objects and bytes per member, and max/mean over the ring
  pastry objects                    the objects stored on the target node (replicas, tombstones)
  pastry cluster up|status|down     a local ring of node processes (pods pastry-0..N-1)
  pastry cluster stop|kill|start <pod> [--with-sidecar]
  pastry cluster kill-sidecar|start-sidecar <pod>
  pastry cluster up --netns         each pod in its own network namespace on a bridge (root)
  pastry cluster partition <pods> [--from <pods>]   cut pods from the others (--netns rings)
  pastry cluster heal               remove every partition
  pastry cluster delay <pods> <ms>  delay what the pods send (0 removes it; --netns rings)
  pastry demo                       cluster up, a few puts and gets, up until Ctrl-C
  pastry chaos                      kill pods under a workload; report lost writes and recovery
  pastry sim <experiment> ...       the simulator: hops, distance, failures, replicas, balance, scale, scribe (pastry sim help)

Chaos options:
  --duration S (60)  --kill-every S (5)  --kill-count N (1; 0: workload only)  --adjacent  --seed N (1)
  --workers N (8)  --restart-after S (3, local)  --with-sidecar (kill its Redis too)
  --killer local|kubectl (local)  --release R  --namespace NS (kubectl)
  pastry monitor [stop]             a local Prometheus scraping every pod (Ctrl-C stops it)

Options:
  --target host:port   node to talk to (default: $PASTRY_TARGET, else the first local pod);
                       file put/get, sub and chat take a comma-separated list and go on through the next
  -o, --output PATH    file get: where to write (- for stdout)
  --chunk-size N       file put: bytes per chunk, a power of two from 16k to 1m (default 256k)
  --json               machine-readable output
  --input GUID         compute run: the file whose chunks are the units' inputs
  --objects G1,G2,...  compute run: objects as the units' inputs instead
  --reduce R           compute run: concat (default), sum (decimal outputs), or a function the module exports
  --redundancy R       compute run: run each unit on R replicas and accept it when they agree (default 1)
  --arg TEXT           compute run: bytes every unit can read (e.g. grep's pattern)
  --function NAME      compute run: the function each unit runs (default run)
  --nodes N            pods for cluster up / demo (default 8)
  --storage memory     store of local pods: memory, or redis (a redis-server sidecar per pod)
  --id-scheme name     cluster up: pod ids from SHA-256 of the name, or spread (ordinals evenly over the ring)
  --run-dir DIR        local ring state and logs (default .pastry)
  --subnet 127.0.10    loopback addresses of local pods: <subnet>.1, <subnet>.2, ...
                       (with --netns a private /24, default 10.213.0; the host is <subnet>.254)
  --netns              cluster up: a network namespace per pod, a bridge and a host guard (root)
  --from PODS          cluster partition: the other side (default: every other pod)
  --from N             sub: start at sequence N of the topic's retained messages (default: new ones only)
  --count N            sub: exit after N messages
  --inbox NAME         sub: read the inbox NAME instead of a topic
  --name NAME          pub, send, anycast, chat: the publisher others see (default $USER@hostname)
  --timeout S          seconds to wait (default 10 for requests, 90 for cluster up); for sub and
                       chat, for each (re)subscription to be confirmed, not a limit on the whole;
                       for compute run, each unit's time limit (default the node's, 30 s)
  --trace              route: per-hop timing, under a new trace id
  --listen host:port   monitor: where Prometheus listens (default 127.0.0.1:9090)
  --scrape-interval D  monitor: Prometheus scrape interval (default 5s)
A 32-hex-digit key is a GUID; anything else is a name.`;

export async function run(argv: string[], io: Io): Promise<number> {
  // The simulator has options of its own.
  if (argv[0] === 'sim') return runSimCommand(argv.slice(1), io.out);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      target: { type: 'string' },
      json: { type: 'boolean', default: false },
      file: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'chunk-size': { type: 'string' },
      nodes: { type: 'string', default: '8' },
      storage: { type: 'string', default: 'memory' },
      'id-scheme': { type: 'string' },
      'run-dir': { type: 'string', default: process.env.PASTRY_RUN_DIR ?? '.pastry' },
      subnet: { type: 'string' },
      netns: { type: 'boolean', default: false },
      from: { type: 'string' },
      count: { type: 'string' },
      inbox: { type: 'string' },
      name: { type: 'string' },
      timeout: { type: 'string' },
      trace: { type: 'boolean', default: false },
      listen: { type: 'string', default: DEFAULT_MONITOR.listen },
      'scrape-interval': { type: 'string', default: DEFAULT_MONITOR.scrapeInterval },
      'with-sidecar': { type: 'boolean', default: false },
      duration: { type: 'string', default: '60' },
      'kill-every': { type: 'string', default: '5' },
      'kill-count': { type: 'string', default: '1' },
      'restart-after': { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      workers: { type: 'string', default: '8' },
      killer: { type: 'string', default: 'local' },
      release: { type: 'string', default: 'pastry' },
      namespace: { type: 'string', default: 'pastry' },
      adjacent: { type: 'boolean', default: false },
      input: { type: 'string' },
      objects: { type: 'string' },
      reduce: { type: 'string' },
      redundancy: { type: 'string' },
      arg: { type: 'string' },
      function: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.out(HELP);
    return command || values.help ? 0 : 2;
  }
  const runDir = values['run-dir'];
  const nodes = positiveInt(values.nodes, '--nodes');
  const timeoutS = values.timeout === undefined ? undefined : positiveInt(values.timeout, '--timeout');
  const json = values.json;
  if (command === 'cluster') {
    const subnet = values.subnet ?? (values.netns ? DEFAULT_NETNS_SUBNET : DEFAULT_CLUSTER.subnet);
    const cluster = { nodes, json, runDir, timeoutMs: (timeoutS ?? 90) * 1000, storage: values.storage, subnet, withSidecar: values['with-sidecar'], netns: values.netns, from: values.from, idScheme: values['id-scheme'] };
    return clusterCommand(rest[0], rest.slice(1), cluster, io);
  }
  if (command === 'monitor') {
    return monitorCommand(rest[0], { runDir, listen: values.listen, scrapeInterval: values['scrape-interval'], timeoutS: timeoutS ?? DEFAULT_MONITOR.timeoutS }, io);
  }
  if (command === 'chaos') {
    return chaosCommand(
      {
        duration: values.duration,
        killEvery: values['kill-every'],
        killCount: values['kill-count'],
        seed: values.seed,
        workers: values.workers,
        restartAfter: values['restart-after'],
        killer: values.killer,
        release: values.release,
        namespace: values.namespace,
        withSidecar: values['with-sidecar'],
        adjacent: values.adjacent,
        runDir,
        json,
      },
      io,
    );
  }
  if (command === 'demo') return demoCommand(nodes, { ...DEFAULT_CLUSTER, runDir, subnet: values.subnet ?? DEFAULT_CLUSTER.subnet }, (timeoutS ?? 90) * 1000, io);
  const target = values.target ?? process.env.PASTRY_TARGET ?? readState(runDir)?.pods[0]?.address ?? '127.0.10.1:7000';
  if (command === 'ring') {
    await ringCommand(target, json, io);
    return 0;
  }
  if (command === 'objects') {
    await objectsCommand(target, json, io);
    return 0;
  }
  if (command === 'balance') {
    await balanceCommand(target, json, io);
    return 0;
  }
  if (command === 'file') {
    const targets = target.split(',').map((t) => t.trim()).filter((t) => t !== '');
    await fileCommand(rest[0], rest.slice(1), { targets, json, output: values.output, chunkSize: values['chunk-size'], idleTimeoutMs: (timeoutS ?? 30) * 1000 }, io);
    return 0;
  }
  if (command === 'compute') {
    const targets = target.split(',').map((t) => t.trim()).filter((t) => t !== '');
    const opts = { targets, json, input: values.input, objects: values.objects, reduce: values.reduce, redundancy: values.redundancy, arg: values.arg, fn: values.function, unitTimeoutS: timeoutS };
    return computeCommand(rest[0], rest.slice(1), opts, io);
  }
  if (isMessagingCommand(command) || command === 'chat') {
    const targets = target.split(',').map((t) => t.trim()).filter((t) => t !== '');
    const timeoutMs = (timeoutS ?? 10) * 1000;
    if (command === 'chat') return chatCommand(rest, { targets, name: publisherOf(values.name), timeoutMs });
    return messagingCommand(command, rest, { targets, json, name: values.name, from: values.from, inbox: values.inbox, count: values.count, timeoutMs }, io);
  }
  const client = new PastryClient(target, (timeoutS ?? 10) * 1000);
  try {
    switch (command) {
      case 'put':
        await putCommand(client, { name: rest[0], value: rest[1], file: values.file }, json, io);
        return 0;
      case 'get':
        await getCommand(client, need(rest[0], 'usage: pastry get <name-or-guid>'), json, io);
        return 0;
      case 'rm':
        await removeCommand(client, need(rest[0], 'usage: pastry rm <name-or-guid>'), json, io);
        return 0;
      case 'route':
        if (values.trace) await traceRouteCommand(client.target, need(rest[0], 'usage: pastry route <name-or-guid> --trace'), (timeoutS ?? 10) * 1000, json, io);
        else await routeCommand(client, need(rest[0], 'usage: pastry route <name-or-guid>'), json, io);
        return 0;
      case 'status':
        await statusCommand(client, json, io);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}; see pastry --help`);
    }
  } finally {
    client.close();
  }
}

function need(value: string | undefined, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(usage);
  return value;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new UsageError(`${flag} needs a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

if (require.main === module) {
  // A reader that went away (`pastry get ... | head`) ends the output, not in a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const io: Io = { out: (t) => process.stdout.write(t + '\n'), raw: (b) => process.stdout.write(b) };
  run(process.argv.slice(2), io).then(
    (code) => process.exit(code),
    (error: unknown) => {
      const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS');
      process.stderr.write(`pastry: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(usage ? 2 : error instanceof ClientError ? 1 : 1);
    },
  );
}

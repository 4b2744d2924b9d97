import { availableParallelism } from 'node:os';
import { ID_SCHEMES, type IdScheme } from './node-id';
import { isLogLevel, type LogLevel } from './logger';

/**
 * Node configuration. Each setting is an environment variable with a CLI-flag twin:
 * PASTRY_LEAF_SET_SIZE=8 is the same as --leaf-set-size 8 (flags win). The README's
 * configuration table and the Helm chart's values map onto exactly these names.
 */
export interface NodeConfig {
  nodeName: string;
  host: string;
  port: number;
  advertiseAddress: string;
  seeds: string[];
  founder: boolean;
  metricsPort: number;
  leafSetSize: number;
  neighborhoodSize: number;
  maxValueBytes: number;
  /** Value bytes of live objects this node stores at most; 0: no limit. */
  capacityBytes: number;
  /** Lease on copies cached along a read's route (0: no caching). */
  cacheLeaseMs: number;
  /** Bytes of cached copies a node keeps at most. */
  cacheBytes: number;
  nearestReplicaReads: boolean;
  /** Bytes of fetched file chunks a node keeps to serve other downloaders. */
  fileCacheBytes: number;
  /** Messaging: children per tree node, messages retained per topic, tree refresh period. */
  scribeMaxChildren: number;
  scribeRetain: number;
  scribeRefreshMs: number;
  /** Computing: units run at once, units queued, a unit's memory and time limits. */
  computeSlots: number;
  computeQueue: number;
  computeMemoryBytes: number;
  computeUnitTimeoutMs: number;
  store: 'memory' | 'redis';
  peerTransport: 'grpc' | 'frames';
  redisUrl: string;
  replicas: number;
  writeQuorum: number;
  antiEntropyIntervalMs: number;
  tombstoneGraceMs: number;
  maintenanceIntervalMs: number;
  partitionProbeIntervalMs: number;
  /** How the node id follows from the node name: name (SHA-256) or spread (StatefulSet ordinals). */
  idScheme: IdScheme;
  rpcTimeoutMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
}

interface Setting {
  env: string;
  default: string;
  help: string;
}

export const SETTINGS = {
  nodeName: { env: 'PASTRY_NODE_NAME', default: '', help: 'stable node name; id = SHA-256(name)[0:16]; random id when empty' },
  host: { env: 'PASTRY_HOST', default: '0.0.0.0', help: 'address the gRPC server binds' },
  port: { env: 'PASTRY_PORT', default: '7000', help: 'gRPC port: client API, peer protocol, health, reflection' },
  advertiseAddress: { env: 'PASTRY_ADVERTISE_ADDRESS', default: '', help: 'host:port peers use to reach this node (default host:port, or 127.0.0.1:port when host is 0.0.0.0)' },
  seeds: { env: 'PASTRY_SEEDS', default: '', help: 'comma-separated host:port of seed nodes' },
  founder: { env: 'PASTRY_FOUNDER', default: 'false', help: 'this node may create a new ring when no seed is in one' },
  founderName: { env: 'PASTRY_FOUNDER_NAME', default: '', help: 'the node with this name is the founder (StatefulSet ordinal 0)' },
  metricsPort: { env: 'PASTRY_METRICS_PORT', default: '9464', help: 'Prometheus /metrics port (0 turns it off)' },
  leafSetSize: { env: 'PASTRY_LEAF_SET_SIZE', default: '16', help: '|L|, an even number' },
  neighborhoodSize: { env: 'PASTRY_NEIGHBORHOOD_SIZE', default: '16', help: '|M|' },
  maxValueBytes: { env: 'PASTRY_MAX_VALUE_BYTES', default: '1048576', help: 'largest value accepted' },
  cacheLeaseMs: { env: 'PASTRY_CACHE_LEASE_MS', default: '2000', help: 'how long nodes on a read\'s route may serve the copy they passed (0: no caching)' },
  cacheBytes: { env: 'PASTRY_CACHE_BYTES', default: '16777216', help: 'bytes of such cached copies a node keeps at most' },
  nearestReplicaReads: { env: 'PASTRY_NEAREST_REPLICA_READS', default: 'true', help: 'a read goes to the replica nearest each hop (Pastry\'s heuristic) instead of the first on the route to the root' },
  fileCacheBytes: { env: 'PASTRY_FILE_CACHE_BYTES', default: '67108864', help: 'bytes of file chunks a node keeps after fetching them, to serve other downloaders (0: none)' },
  scribeMaxChildren: { env: 'PASTRY_SCRIBE_MAX_CHILDREN', default: '24', help: 'messaging: children a tree node takes before it hands newcomers to a child (0: no cap)' },
  scribeRetain: { env: 'PASTRY_SCRIBE_RETAIN', default: '1000', help: 'messaging: last messages of each topic kept in the DHT for subscribers that catch up' },
  scribeRefreshMs: { env: 'PASTRY_SCRIBE_REFRESH_MS', default: '2000', help: 'messaging: how often a tree node tells its parent it is there (silent for 3 periods: dropped)' },
  computeSlots: { env: 'PASTRY_COMPUTE_SLOTS', default: '0', help: 'computing: work units run at once, each in a worker thread (0: half the cores, at least 1)' },
  computeQueue: { env: 'PASTRY_COMPUTE_QUEUE', default: '64', help: 'computing: work units waiting for a slot at most; beyond, units are refused and their jobs retry them' },
  computeMemoryBytes: { env: 'PASTRY_COMPUTE_MEMORY_BYTES', default: '67108864', help: 'computing: linear memory a work unit may reach' },
  computeUnitTimeoutMs: { env: 'PASTRY_COMPUTE_UNIT_TIMEOUT_MS', default: '30000', help: 'computing: wall time a work unit may run' },
  capacityBytes: { env: 'PASTRY_CAPACITY_BYTES', default: '0', help: 'value bytes this node stores at most (0: no limit); a full node refuses new objects with RESOURCE_EXHAUSTED' },
  store: { env: 'PASTRY_STORE', default: 'memory', help: 'memory (embedded) or redis' },
  peerTransport: { env: 'PASTRY_PEER_TRANSPORT', default: 'frames', help: 'how this node calls its peers: frames (length-prefixed frames over TCP on the same port) or grpc; every node serves both' },
  redisUrl: { env: 'PASTRY_REDIS_URL', default: 'redis://127.0.0.1:6379', help: 'the Redis sidecar' },
  replicas: { env: 'PASTRY_REPLICAS', default: '3', help: 'k, copies of each object' },
  writeQuorum: { env: 'PASTRY_WRITE_QUORUM', default: '0', help: 'replicas that must confirm a write; 0 means a majority of k' },
  antiEntropyIntervalMs: { env: 'PASTRY_ANTIENTROPY_INTERVAL_MS', default: '5000', help: 'period of replica repair, handoff and tombstone collection' },
  tombstoneGraceMs: { env: 'PASTRY_TOMBSTONE_GRACE_MS', default: '600000', help: 'how long a removed object\'s tombstone is kept' },
  maintenanceIntervalMs: { env: 'PASTRY_MAINTENANCE_INTERVAL_MS', default: '1000', help: 'period of leaf-set exchange and probing' },
  idScheme: { env: 'PASTRY_ID_SCHEME', default: 'name', help: 'node id from the name: name (SHA-256 of it) or spread (StatefulSet ordinals spread evenly over the ring)' },
  partitionProbeIntervalMs: { env: 'PASTRY_PARTITION_PROBE_INTERVAL_MS', default: '2000', help: 'period of partition-heal probes of recently dead nodes and unknown seeds (0 turns them off)' },
  rpcTimeoutMs: { env: 'PASTRY_RPC_TIMEOUT_MS', default: '2000', help: 'deadline of each peer call' },
  shutdownGraceMs: { env: 'PASTRY_SHUTDOWN_GRACE_MS', default: '20000', help: 'budget for graceful leave on SIGTERM' },
  logLevel: { env: 'PASTRY_LOG_LEVEL', default: 'info', help: 'debug, info, warn or error' },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

export class ConfigError extends Error {}

export function flagName(name: SettingName): string {
  return '--' + SETTINGS[name].env.replace(/^PASTRY_/, '').toLowerCase().replace(/_/g, '-');
}

/** Reads the settings from flags (first) and the environment. */
export function loadConfig(env: NodeJS.ProcessEnv, argv: string[] = []): NodeConfig {
  const flags = parseFlags(argv);
  const raw = (name: SettingName): string => {
    const s = SETTINGS[name];
    return flags.get(flagName(name)) ?? env[s.env] ?? s.default;
  };
  const nodeName = raw('nodeName');
  const host = raw('host');
  const port = integer('port', raw('port'), 0, 65535);
  const founderName = raw('founderName');
  const store = raw('store');
  if (store !== 'memory' && store !== 'redis') throw new ConfigError(`PASTRY_STORE must be memory or redis, got ${JSON.stringify(store)}`);
  const peerTransport = raw('peerTransport');
  if (peerTransport !== 'grpc' && peerTransport !== 'frames') throw new ConfigError(`PASTRY_PEER_TRANSPORT must be grpc or frames, got ${JSON.stringify(peerTransport)}`);
  const idScheme = raw('idScheme');
  if (!(ID_SCHEMES as readonly string[]).includes(idScheme)) throw new ConfigError(`PASTRY_ID_SCHEME must be name or spread, got ${JSON.stringify(idScheme)}`);
  if (idScheme === 'spread' && !/-\d+$/.test(nodeName)) throw new ConfigError(`PASTRY_ID_SCHEME=spread needs PASTRY_NODE_NAME of the form <set>-<ordinal> (a StatefulSet pod's name), got ${JSON.stringify(nodeName)}`);
  const logLevel = raw('logLevel');
  if (!isLogLevel(logLevel)) throw new ConfigError(`PASTRY_LOG_LEVEL must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  const leafSetSize = integer('leafSetSize', raw('leafSetSize'), 2, 256);
  if (leafSetSize % 2 !== 0) throw new ConfigError(`PASTRY_LEAF_SET_SIZE must be even, got ${leafSetSize}`);
  const replicas = integer('replicas', raw('replicas'), 1, 16);
  if (replicas - 1 > leafSetSize / 2) throw new ConfigError(`PASTRY_REPLICAS must be at most PASTRY_LEAF_SET_SIZE/2 + 1 (${leafSetSize / 2 + 1}), got ${replicas}`);
  const writeQuorum = integer('writeQuorum', raw('writeQuorum'), 0, replicas);
  const advertiseHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const advertiseAddress = raw('advertiseAddress') || `${advertiseHost}:${port}`;
  checkAddress('advertiseAddress', advertiseAddress);
  const seeds = raw('seeds')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  seeds.forEach((s) => checkAddress('seeds', s));
  return {
    nodeName,
    host,
    port,
    advertiseAddress,
    seeds,
    founder: bool('founder', raw('founder')) || (founderName !== '' && founderName === nodeName),
    metricsPort: integer('metricsPort', raw('metricsPort'), 0, 65535),
    leafSetSize,
    neighborhoodSize: integer('neighborhoodSize', raw('neighborhoodSize'), 1, 256),
    maxValueBytes: integer('maxValueBytes', raw('maxValueBytes'), 1, 64 * 1024 * 1024),
    capacityBytes: integer('capacityBytes', raw('capacityBytes'), 0, Number.MAX_SAFE_INTEGER),
    cacheLeaseMs: integer('cacheLeaseMs', raw('cacheLeaseMs'), 0, 600_000),
    cacheBytes: integer('cacheBytes', raw('cacheBytes'), 0, Number.MAX_SAFE_INTEGER),
    nearestReplicaReads: bool('nearestReplicaReads', raw('nearestReplicaReads')),
    fileCacheBytes: integer('fileCacheBytes', raw('fileCacheBytes'), 0, Number.MAX_SAFE_INTEGER),
    scribeMaxChildren: integer('scribeMaxChildren', raw('scribeMaxChildren'), 0, 1024),
    scribeRetain: integer('scribeRetain', raw('scribeRetain'), 1, 1_000_000),
    scribeRefreshMs: integer('scribeRefreshMs', raw('scribeRefreshMs'), 50, 3_600_000),
    computeSlots: integer('computeSlots', raw('computeSlots'), 0, 1024) || Math.max(1, Math.floor(availableParallelism() / 2)),
    computeQueue: integer('computeQueue', raw('computeQueue'), 0, 1_000_000),
    computeMemoryBytes: integer('computeMemoryBytes', raw('computeMemoryBytes'), 65_536, 4 * 1024 * 1024 * 1024),
    computeUnitTimeoutMs: integer('computeUnitTimeoutMs', raw('computeUnitTimeoutMs'), 10, 24 * 3_600_000),
    store,
    peerTransport,
    redisUrl: raw('redisUrl'),
    replicas,
    writeQuorum: writeQuorum === 0 ? Math.floor(replicas / 2) + 1 : writeQuorum,
    antiEntropyIntervalMs: integer('antiEntropyIntervalMs', raw('antiEntropyIntervalMs'), 50, 3_600_000),
    tombstoneGraceMs: integer('tombstoneGraceMs', raw('tombstoneGraceMs'), 0, 365 * 86_400_000),
    maintenanceIntervalMs: integer('maintenanceIntervalMs', raw('maintenanceIntervalMs'), 50, 3_600_000),
    idScheme: idScheme as IdScheme,
    partitionProbeIntervalMs: integer('partitionProbeIntervalMs', raw('partitionProbeIntervalMs'), 0, 3_600_000),
    rpcTimeoutMs: integer('rpcTimeoutMs', raw('rpcTimeoutMs'), 50, 600_000),
    shutdownGraceMs: integer('shutdownGraceMs', raw('shutdownGraceMs'), 0, 3_600_000),
    logLevel,
  };
}

function parseFlags(argv: string[]): Map<string, string> {
  const known = new Set(Object.keys(SETTINGS).map((n) => flagName(n as SettingName)));
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!known.has(name)) throw new ConfigError(`unknown option ${name}; see --help`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`option ${name} needs a value`);
    flags.set(name, value);
  }
  return flags;
}

function integer(name: SettingName, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${SETTINGS[name].env} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function bool(name: SettingName, value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no|)$/i.test(value)) return false;
  throw new ConfigError(`${SETTINGS[name].env} must be true or false, got ${JSON.stringify(value)}`);
}

function checkAddress(name: SettingName, value: string): void {
  if (!/^[^\s:]+:\d{1,5}$/.test(value) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(value)) {
    throw new ConfigError(`${SETTINGS[name].env} needs host:port, got ${JSON.stringify(value)}`);
  }
}

export function helpText(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((n) => {
    const s = SETTINGS[n];
    return `  ${flagName(n).padEnd(28)} ${s.env.padEnd(32)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`;
  });
  return ['Usage: pastry-node [options]', '', 'Every option is also an environment variable:', ...rows].join('\n');
}

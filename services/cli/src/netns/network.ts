import { createHash } from 'node:crypto';
import path from 'node:path';
import { iptables, iptablesSucceeds, run, succeeds, which } from './exec';

/**
 * The network of a `--netns` ring: one bridge on the host, one namespace per pod with a veth
 * pair into the bridge, and a host guard chain that keeps every packet on this machine.
 * Names carry a run id (from the run directory) so that two rings never touch each other.
 */
export interface NetnsNetwork {
  runId: string;
  bridge: string;
  /** Host chain, jumped to first from FORWARD: nothing crosses between the bridge and another interface. */
  guardChain: string;
  /** Three octets: pod i is <subnet>.(i+1), the host end of the bridge <subnet>.254. */
  subnet: string;
  hostAddress: string;
  /** Cuts made by `cluster partition`, each between two groups of pod names. */
  partitions: Partition[];
}

export interface Partition {
  pods: string[];
  from: string[];
}

export const DEFAULT_NETNS_SUBNET = '10.213.0';
/** The pod's end of its veth pair, inside its namespace. */
export const POD_INTERFACE = 'eth0';
/** Chains inside each pod namespace: partition rules (flushed by heal) and the delay queue. */
export const PARTITION_CHAIN = 'PASTRY-PARTITION';
export const DELAY_CHAIN = 'PASTRY-DELAY';

export function runIdFor(runDir: string): string {
  return createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 6);
}

export function networkFor(runDir: string, subnet: string): NetnsNetwork {
  const runId = runIdFor(runDir);
  return { runId, bridge: `pastrybr-${runId}`, guardChain: `PASTRY-GUARD-${runId}`, subnet, hostAddress: `${subnet}.254`, partitions: [] };
}

export function namespaceName(runId: string, ordinal: number): string {
  return `pastry-${runId}-${ordinal}`;
}

function hostVeth(runId: string, ordinal: number): string {
  return `pv${runId}-${ordinal}`;
}

/** Fails at once, saying what is needed, when this process cannot build the network. */
export function checkNetnsPrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error('--netns needs root (network namespaces, a bridge, iptables); run as root or drop --netns');
  const missing = [
    ['ip', 'iproute2'],
    ['tc', 'iproute2'],
    ['iptables', 'iptables'],
  ].filter(([tool]) => !which(tool!));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    throw new Error(`--netns needs ${missing.map(([tool]) => tool).join(', ')}: run \`apt-get install ${packages}\` (or bash test/setup/ensure-netns-tools.sh)`);
  }
}

/** Pods live on a private /24 of this machine only: 10/8, 172.16/12 or 192.168/16. */
export function validateNetnsSubnet(subnet: string): void {
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(subnet)?.slice(1).map(Number);
  const ok = octets && octets.every((o) => o <= 255) && (octets[0] === 10 || (octets[0] === 172 && octets[1]! >= 16 && octets[1]! <= 31) || (octets[0] === 192 && octets[1] === 168));
  if (!ok) throw new Error(`with --netns, --subnet must be three octets of a private network (10.x.y, 172.16-31.x, 192.168.x), like ${DEFAULT_NETNS_SUBNET}; got ${subnet}`);
}

function linkExists(name: string, ns?: string): boolean {
  return succeeds('ip', [...(ns ? ['-n', ns] : []), 'link', 'show', 'dev', name]);
}

/** The host devices with an address in the subnet, other than this ring's own bridge. */
function subnetUsers(net: Pick<NetnsNetwork, 'subnet' | 'bridge'>): string[] {
  return run('ip', ['-4', '-o', 'addr', 'show'])
    .split('\n')
    .filter((line) => line.includes(` inet ${net.subnet}.`))
    .map((line) => line.split(/\s+/)[1]!)
    .filter((dev) => dev !== net.bridge);
}

/** A ring is abandoned when no process runs in any of its namespaces (its `up` and its pods died unseen). */
function isAbandoned(runId: string): boolean {
  return existingNamespaces(runId).every((ns) => run('ip', ['netns', 'pids', ns], { ignoreFailure: true }).trim() === '');
}

/**
 * Tears down the rings on this subnet whose processes are all gone (a machine restart or a
 * SIGKILLed `up` leaves bridges and namespaces behind that nothing will ever take down) and
 * returns their bridges. A ring with any live process is left alone.
 */
export function reclaimAbandonedRings(subnet: string, ownBridge = ''): string[] {
  const reclaimed: string[] = [];
  for (const dev of subnetUsers({ subnet, bridge: ownBridge })) {
    const runId = /^pastrybr-([0-9a-f]{6})$/.exec(dev)?.[1];
    if (!runId || !isAbandoned(runId)) continue;
    teardownNetwork({ runId, bridge: dev, guardChain: `PASTRY-GUARD-${runId}` });
    reclaimed.push(dev);
  }
  return reclaimed;
}

/** Refuses a subnet another interface of the host already uses (the routes would clash). */
function checkSubnetFree(net: NetnsNetwork): void {
  const users = subnetUsers(net);
  if (users.length > 0) throw new Error(`${net.subnet}.0/24 is already used by ${users.join(', ')} (another ring?); choose another --subnet`);
}

/**
 * The bridge with the host's address on it, and the guard chain first in FORWARD. Idempotent.
 * Returns the abandoned rings' bridges it reclaimed the subnet from.
 */
export function ensureBridge(net: NetnsNetwork): string[] {
  const reclaimed = reclaimAbandonedRings(net.subnet, net.bridge);
  checkSubnetFree(net);
  if (!linkExists(net.bridge)) run('ip', ['link', 'add', 'name', net.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'replace', `${net.hostAddress}/24`, 'dev', net.bridge]);
  run('ip', ['link', 'set', net.bridge, 'up']);
  if (!iptablesSucceeds(undefined, ['-n', '-L', net.guardChain])) iptables(undefined, ['-N', net.guardChain]);
  iptables(undefined, ['-F', net.guardChain]);
  // Pod to pod across the bridge passes (bridged frames meet FORWARD where br_netfilter is on),
  // whatever the FORWARD policy; nothing goes from the bridge elsewhere or comes in from elsewhere.
  iptables(undefined, ['-A', net.guardChain, '-i', net.bridge, '-o', net.bridge, '-j', 'ACCEPT']);
  iptables(undefined, ['-A', net.guardChain, '-i', net.bridge, '!', '-o', net.bridge, '-j', 'DROP']);
  iptables(undefined, ['-A', net.guardChain, '!', '-i', net.bridge, '-o', net.bridge, '-j', 'DROP']);
  if (!iptablesSucceeds(undefined, ['-C', 'FORWARD', '-j', net.guardChain])) iptables(undefined, ['-I', 'FORWARD', '1', '-j', net.guardChain]);
  return reclaimed;
}

/** Pod `ordinal`'s namespace: lo up, eth0 with the pod address, no default route, its chains. Idempotent. */
export function ensurePodNamespace(net: NetnsNetwork, ordinal: number): { netns: string; host: string } {
  const ns = namespaceName(net.runId, ordinal);
  const host = `${net.subnet}.${ordinal + 1}`;
  if (!succeeds('ip', ['netns', 'exec', ns, 'true'])) run('ip', ['netns', 'add', ns]);
  const veth = hostVeth(net.runId, ordinal);
  if (!linkExists(POD_INTERFACE, ns)) {
    if (linkExists(veth)) run('ip', ['link', 'del', veth]);
    run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `pp${net.runId}-${ordinal}`, 'netns', ns]);
    run('ip', ['-n', ns, 'link', 'set', `pp${net.runId}-${ordinal}`, 'name', POD_INTERFACE]);
  }
  run('ip', ['link', 'set', veth, 'master', net.bridge, 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'addr', 'replace', `${host}/24`, 'dev', POD_INTERFACE]);
  run('ip', ['-n', ns, 'link', 'set', POD_INTERFACE, 'up']);
  // Only the bridge subnet is routable (the address's own route): no default route, no IPv6.
  run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'], { ignoreFailure: true });
  for (const chain of [PARTITION_CHAIN, DELAY_CHAIN]) {
    if (!iptablesSucceeds(ns, ['-n', '-L', chain])) iptables(ns, ['-N', chain]);
  }
  for (const [hook, chain] of [['INPUT', PARTITION_CHAIN], ['OUTPUT', PARTITION_CHAIN], ['OUTPUT', DELAY_CHAIN]] as const) {
    if (!iptablesSucceeds(ns, ['-C', hook, '-j', chain])) iptables(ns, ['-A', hook, '-j', chain]);
  }
  return { netns: ns, host };
}

/** The namespaces of this run that exist now (also those a failed `up` left behind). */
export function existingNamespaces(runId: string): string[] {
  return run('ip', ['netns', 'list'], { ignoreFailure: true })
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(`pastry-${runId}-`));
}

/**
 * Removes everything of this run: processes left in its namespaces, the namespaces (and with
 * them the veth pairs), stray host veths, the bridge and the guard chain. Idempotent.
 */
export function teardownNetwork(net: Pick<NetnsNetwork, 'runId' | 'bridge' | 'guardChain'>): void {
  for (const ns of existingNamespaces(net.runId)) {
    for (const pid of run('ip', ['netns', 'pids', ns], { ignoreFailure: true }).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    run('ip', ['netns', 'del', ns], { ignoreFailure: true });
  }
  const veths = run('ip', ['-o', 'link', 'show'], { ignoreFailure: true })
    .split('\n')
    .map((line) => line.split(': ')[1]?.split('@')[0])
    .filter((name): name is string => !!name && name.startsWith(`pv${net.runId}-`));
  for (const veth of veths) run('ip', ['link', 'del', veth], { ignoreFailure: true });
  if (linkExists(net.bridge)) run('ip', ['link', 'del', net.bridge], { ignoreFailure: true });
  if (which('iptables')) {
    while (iptablesSucceeds(undefined, ['-C', 'FORWARD', '-j', net.guardChain])) iptables(undefined, ['-D', 'FORWARD', '-j', net.guardChain]);
    if (iptablesSucceeds(undefined, ['-n', '-L', net.guardChain])) {
      iptables(undefined, ['-F', net.guardChain], { ignoreFailure: true });
      iptables(undefined, ['-X', net.guardChain], { ignoreFailure: true });
    }
  }
}

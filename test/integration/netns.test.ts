import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readState, waitForRing } from '../../services/cli/src/cluster';
import { PastryClient } from '../../services/cli/src/client';
import { compareCloseness } from '../../services/node/src/core/id';
import { networkFor, teardownNetwork } from '../../services/cli/src/netns/network';
import { netnsRun } from '../helpers/netns-run';
import { CLI } from '../helpers/tools';

jest.setTimeout(120_000);

/** Connect time in ms to host:port, or -1 when the connection fails within timeoutMs. */
const CONNECT = `const net = require('net'); const [host, port, ms] = process.argv.slice(1);
const t = process.hrtime.bigint(); const c = net.connect({ host, port: Number(port), timeout: Number(ms) });
c.on('connect', () => { console.log(Number(process.hrtime.bigint() - t) / 1e6); c.destroy(); });
c.on('timeout', () => { console.log(-1); c.destroy(); }); c.on('error', () => console.log(-1));`;

/** A ring of 4 pods, each in its own network namespace, on a bridge of its own subnet. */
describe('cluster up --netns: pods with their own network namespaces', () => {
  const { runDir, network, pastry, cleanup } = netnsRun('pastry-netns-', '10.213.57', { PASTRY_MAINTENANCE_INTERVAL_MS: '500', PASTRY_RPC_TIMEOUT_MS: '1500' }, 90_000);
  /** Connects from inside a namespace (or from the host without one). */
  const connectMs = (ns: string | undefined, host: string, timeoutMs = 1500): number => {
    const argv = [process.execPath, '-e', CONNECT, host, '7000', String(timeoutMs)];
    const [file, args] = ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0]!, argv.slice(1)];
    return Number(execFileSync(file, args, { encoding: 'utf8', timeout: timeoutMs + 5000 }).trim());
  };
  const pod = (i: number): { netns: string; host: string } => {
    const p = readState(runDir)!.pods[i]!;
    return { netns: p.netns!, host: p.host };
  };

  beforeAll(async () => {
    const up = await pastry('cluster', 'up', '--netns', '--nodes', '4', '--subnet', '10.213.57', '--timeout', '60');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
  });

  afterAll(cleanup);

  it('status --json gives each pod its namespace and its own 10.x address, and the ring forms', async () => {
    const r = await pastry('cluster', 'status', '--json');
    expect(r.code).toBe(0);
    const { pods } = JSON.parse(r.stdout);
    expect(pods).toHaveLength(4);
    expect(new Set(pods.map((p: { address: string }) => p.address)).size).toBe(4);
    pods.forEach((p: Record<string, unknown>, i: number) => {
      expect(p.address).toBe(`10.213.57.${i + 1}:7000`);
      expect(p.host).toBe(`10.213.57.${i + 1}`);
      expect(p.netns).toBe(`pastry-${network.runId}-${i}`);
      expect(p).toMatchObject({ ready: true, partition: [], cutFrom: [], delayMs: 0 });
    });
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(`pastry-${network.runId}-3`);
    // Only the bridge subnet is routable inside a pod.
    expect(execFileSync('ip', ['-n', pod(0).netns, 'route'], { encoding: 'utf8' }).trim()).toMatch(/^10\.213\.57\.0\/24 dev eth0 [^\n]*$/);
    await waitForRing(readState(runDir)!, 30_000);
  });

  it('put then get from the host, through the bridge', async () => {
    expect((await pastry('put', 'netns-greeting', 'hello from the host')).code).toBe(0);
    const got = await pastry('get', 'netns-greeting', '--target', '10.213.57.3:7000');
    expect(got.code).toBe(0);
    expect(got.stdout).toBe('hello from the host');
  });

  it('partition 0,1 cuts pod-0 from pod-2 but not from pod-1 nor the host; heal restores it', async () => {
    expect(connectMs(pod(0).netns, pod(2).host)).toBeGreaterThanOrEqual(0);
    const cut = await pastry('cluster', 'partition', '0,1', '--json');
    expect(cut.code).toBe(0);
    expect(JSON.parse(cut.stdout).partition).toEqual({ pods: ['pastry-0', 'pastry-1'], from: ['pastry-2', 'pastry-3'] });
    expect(connectMs(pod(0).netns, pod(2).host)).toBe(-1);
    expect(connectMs(pod(3).netns, pod(1).host)).toBe(-1);
    expect(connectMs(pod(0).netns, pod(1).host)).toBeGreaterThanOrEqual(0);
    expect(connectMs(undefined, pod(2).host)).toBeGreaterThanOrEqual(0);
    const { pods } = JSON.parse((await pastry('cluster', 'status', '--json')).stdout);
    expect(pods[0]).toMatchObject({ partition: ['1a'], cutFrom: ['pastry-2', 'pastry-3'] });
    expect(pods[2]).toMatchObject({ partition: ['1b'], cutFrom: ['pastry-0', 'pastry-1'] });

    expect((await pastry('cluster', 'heal')).code).toBe(0);
    expect(connectMs(pod(0).netns, pod(2).host)).toBeGreaterThanOrEqual(0);
    expect(connectMs(pod(3).netns, pod(1).host)).toBeGreaterThanOrEqual(0);
  });

  it('delay 2 150 makes a connect to pod-2 take at least 150 ms; delay 2 0 removes it', async () => {
    const delayed = await pastry('cluster', 'delay', '2', '150');
    expect(delayed.stderr).toBe('');
    expect(delayed.code).toBe(0);
    for (let i = 0; i < 3; i++) expect(connectMs(undefined, pod(2).host)).toBeGreaterThanOrEqual(150);
    expect(connectMs(undefined, pod(1).host)).toBeLessThan(150);
    expect(JSON.parse((await pastry('cluster', 'status', '--json')).stdout).pods[2].delayMs).toBe(150);

    expect((await pastry('cluster', 'delay', '2', '0')).code).toBe(0);
    const times = [0, 1, 2].map(() => connectMs(undefined, pod(2).host)).sort((a, b) => a - b);
    expect(times[0]).toBeGreaterThanOrEqual(0);
    expect(times[1]).toBeLessThan(50);
  });

  it('partition and delay refuse bad pod lists', async () => {
    const bad = await pastry('cluster', 'partition', '0,7');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no pod with ordinal 7/);
    expect((await pastry('cluster', 'delay', '1', 'soon')).code).toBe(2);
  });

  it('down removes every namespace, the bridge and the guard chain; a second down is fine', async () => {
    const down = await pastry('cluster', 'down');
    expect(down.code).toBe(0);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`pastry-${network.runId}-`);
    expect(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })).not.toMatch(new RegExp(`${network.bridge}|pv${network.runId}-`));
    expect(execFileSync('iptables', ['-w', '-S'], { encoding: 'utf8' })).not.toContain(network.guardChain);
    const again = await pastry('cluster', 'down');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('stopped 0 pods');
  });
});

/**
 * Reads on a --netns ring whose pods each delay what they send by a different amount (the
 * round trip between two pods is the sum of their delays): how often the replica nearest
 * to the entry pod serves the read, with Pastry's nearest-replica heuristic and without.
 */
describe('cluster delay on a --netns ring: reads served by the replica nearest the client', () => {
  const PODS = 8;
  /** One-way delay of pod i's packets: all different, so each client has one nearest replica. */
  const delayOf = (i: number): number => 2 + ((i * 5) % PODS) * 6;

  const measure = async (subnet: string, nearestReplicaReads: boolean): Promise<{ nearest: number; reads: number }> => {
    const env = { PASTRY_MAINTENANCE_INTERVAL_MS: '250', PASTRY_NEAREST_REPLICA_READS: String(nearestReplicaReads) };
    const run = netnsRun('pastry-netns-near-', subnet, env, 90_000);
    const clients: PastryClient[] = [];
    try {
      const up = await run.pastry('cluster', 'up', '--netns', '--nodes', String(PODS), '--subnet', subnet, '--timeout', '60');
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      for (let i = 0; i < PODS; i++) expect((await run.pastry('cluster', 'delay', String(i), String(delayOf(i)))).code).toBe(0);
      const pods = readState(run.runDir)!.pods;
      for (const p of pods) clients.push(new PastryClient(p.address, 10_000));
      const names = Array.from({ length: 12 }, (_, i) => `near-${i}`);
      const guids: string[] = [];
      for (const [i, name] of names.entries()) {
        const put = await clients[i % PODS]!.put(name, Buffer.from(`value of ${name}`));
        guids.push(Buffer.from(put.guid).toString('hex'));
      }
      // Leaf-set exchanges measure the delayed round trips (each srtt moves 1/8 of the way per
      // sample), and anti-entropy gives every replica its copy.
      await new Promise((r) => setTimeout(r, 20_000));
      let nearest = 0;
      let reads = 0;
      for (const [e, entry] of pods.entries()) {
        for (const [i, name] of names.entries()) {
          const res = await clients[e]!.get(name);
          expect(res.value.toString()).toBe(`value of ${name}`);
          const replicas = [...pods.keys()].sort((a, b) => compareCloseness(guids[i]!, pods[a]!.id, pods[b]!.id)).slice(0, 3);
          const best = replicas.includes(e) ? e : replicas.reduce((a, b) => (delayOf(b) < delayOf(a) ? b : a));
          reads++;
          if (Buffer.from(res.root!.id).toString('hex') === pods[best]!.id) nearest++;
          expect(entry.id).toBe(pods[e]!.id);
        }
      }
      return { nearest, reads };
    } finally {
      for (const c of clients) c.close();
      await run.cleanup();
    }
  };

  it("the heuristic serves at least the paper's 76 % of reads from the nearest of the 3 replicas, more than plain routing does", async () => {
    const on = await measure('10.213.61', true);
    const off = await measure('10.213.62', false);
    process.stdout.write(`netns ring of ${PODS} pods with delays: the nearest replica served ${on.nearest} of ${on.reads} reads with the heuristic, ${off.nearest} of ${off.reads} without\n`);
    expect(on.reads).toBe(PODS * 12);
    expect(on.nearest / on.reads).toBeGreaterThanOrEqual(0.76);
    expect(on.nearest).toBeGreaterThan(off.nearest);
  }, 300_000);
});

describe('the --netns commands refuse clearly', () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-netns-refuse-'));
  afterAll(() => rmSync(runDir, { recursive: true, force: true }));
  const pastry = (args: string[], prefix: string[] = []): { status: number | null; stderr: string } => {
    const argv = [...prefix, process.execPath, CLI, ...args, '--run-dir', runDir];
    return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  };

  it('up --netns as a user other than root says it needs root, and creates nothing', () => {
    chmodSync(runDir, 0o777);
    const r = pastry(['cluster', 'up', '--netns', '--nodes', '2'], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    expect(r.stderr).toContain('--netns needs root (network namespaces, a bridge, iptables); run as root or drop --netns');
    expect(r.status).toBe(1);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`pastry-${networkFor(runDir, '').runId}-`);
  });

  it('partition, heal and delay refuse a ring that is not a --netns ring', () => {
    writeFileSync(path.join(runDir, 'cluster.json'), JSON.stringify({ pods: [], mode: 'loopback-addresses', leafSetSize: 16, storage: 'memory', subnet: '127.0.10', port: 7000, metricsPort: 9464 }));
    for (const args of [['partition', '0'], ['heal'], ['delay', '0', '10']]) {
      const r = pastry(['cluster', ...args]);
      expect(r.stderr).toContain(`cluster ${args[0]} needs a ring started with \`pastry cluster up --netns\``);
      expect(r.status).toBe(1);
    }
    expect(pastry(['cluster', 'up', '--netns', '--nodes', '1']).stderr).toContain('is not a --netns ring');
  });
});

/** What a SIGKILLed run or a machine restart leaves: a bridge on the subnet and namespaces, some with nobody in them. */
describe('a subnet held by a ring whose processes are gone', () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-netns-reclaim-'));
  const leftoverDirs = ['10.213.59', '10.213.60'].map(() => mkdtempSync(path.join(os.tmpdir(), 'pastry-netns-left-')));
  const leftovers = ['10.213.59', '10.213.60'].map((subnet, i) => networkFor(leftoverDirs[i]!, subnet));
  const sh = (args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  let sleeper: ReturnType<typeof spawn> | undefined;
  const pastry = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [CLI, ...args, '--run-dir', runDir], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' } });

  beforeAll(() => {
    for (const net of leftovers) {
      sh(['ip', 'link', 'add', 'name', net.bridge, 'type', 'bridge']);
      sh(['ip', 'addr', 'add', `${net.subnet}.254/24`, 'dev', net.bridge]);
      sh(['ip', 'netns', 'add', `pastry-${net.runId}-0`]);
    }
    // The second one still has a live process in a namespace: a ring somebody is running.
    sleeper = spawn('ip', ['netns', 'exec', `pastry-${leftovers[1]!.runId}-0`, 'sleep', '60'], { stdio: 'ignore' });
  });

  afterAll(async () => {
    pastry(['cluster', 'down']);
    sleeper?.kill('SIGKILL');
    for (const net of leftovers) teardownNetwork(net);
    for (const dir of [runDir, ...leftoverDirs]) rmSync(dir, { recursive: true, force: true });
  });

  it('up --netns tears the abandoned one down, says so, and starts; a ring with a live process is refused, untouched', async () => {
    const up = pastry(['cluster', 'up', '--netns', '--nodes', '1', '--subnet', '10.213.59', '--timeout', '40']);
    expect(up.stderr).toBe(`pastry: reclaimed 10.213.59.0/24 from ${leftovers[0]!.bridge}, a --netns ring with no process left (torn down)\n`);
    expect(up.status).toBe(0);
    expect(sh(['ip', 'netns', 'list'])).not.toContain(`pastry-${leftovers[0]!.runId}-`);
    expect(sh(['ip', '-o', 'link', 'show'])).not.toContain(leftovers[0]!.bridge);
    expect(pastry(['cluster', 'down']).status).toBe(0);

    await new Promise((r) => setTimeout(r, 200));
    expect(sh(['ip', 'netns', 'pids', `pastry-${leftovers[1]!.runId}-0`]).trim()).not.toBe('');
    const refused = pastry(['cluster', 'up', '--netns', '--nodes', '1', '--subnet', '10.213.60', '--timeout', '40']);
    expect(refused.stderr).toBe(`pastry: 10.213.60.0/24 is already used by ${leftovers[1]!.bridge} (another ring?); choose another --subnet\n`);
    expect(refused.status).toBe(1);
    expect(sh(['ip', '-o', 'link', 'show'])).toContain(leftovers[1]!.bridge);
  });
});

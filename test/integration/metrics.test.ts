import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PastryClient } from '../../services/cli/src/client';
import { panelQueries, substitute } from '../helpers/dashboards';
import { startRing, type TestRing } from '../helpers/local-ring';
import { CLI, findTool } from '../helpers/tools';

jest.setTimeout(120_000);

const SUBNET = '127.0.15';
const NODES = 4;

interface PromResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe('metrics, a local Prometheus and the Grafana dashboards', () => {
  let ring: TestRing;
  let monitor: ChildProcess | undefined;
  let prom = '';
  let stopWorkload = false;
  let workload: Promise<void> = Promise.resolve();

  const query = async (expr: string): Promise<PromResult> => {
    const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as PromResult;
  };

  /** Puts, gets (some missing), routes and removes from every pod until stopped. */
  const runWorkload = async (): Promise<void> => {
    const clients = ring.state().pods.map((p) => new PastryClient(p.address, 5000));
    try {
      for (let i = 0; !stopWorkload; i++) {
        const c = clients[i % clients.length]!;
        const name = `metrics-${i % 40}`;
        await c.put(name, Buffer.from(`value ${i}`));
        await c.get(name);
        await c.route(`route-${i}`);
        await c.get(`missing-${i}`).catch(() => undefined);
        if (i % 10 === 9) await c.remove(name);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      clients.forEach((c) => c.close());
    }
  };

  beforeAll(async () => {
    findTool('prometheus');
    ring = await startRing(NODES, SUBNET);
    workload = runWorkload();
    const port = await freePort();
    prom = `http://127.0.0.1:${port}`;
    monitor = spawn(process.execPath, [CLI, 'monitor', '--run-dir', ring.options.runDir, '--listen', `127.0.0.1:${port}`, '--scrape-interval', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    monitor.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    monitor.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor('pastry monitor to start prometheus', 30_000, async () => (output.includes('prometheus on') ? true : monitor!.exitCode !== null ? Promise.reject(new Error(output)) : undefined));
    // Every pod up, and enough scrapes after the first routed operations for 15 s rate windows.
    await waitFor('every pod scraped', 30_000, async () => {
      const r = await query('sum(up{job="pastry", namespace="local"})');
      return Number(r.data?.result[0]?.value[1]) === NODES ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 6000));
  });

  afterAll(async () => {
    stopWorkload = true;
    await workload.catch(() => undefined);
    if (monitor && monitor.exitCode === null) {
      const exited = new Promise((r) => monitor!.once('exit', r));
      monitor.kill('SIGTERM');
      await exited;
    }
    await ring?.down();
  });

  it('every PromQL expression of every dashboard panel returns data', async () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const q of queries) {
      const expr = substitute(q.expr);
      const r = await query(expr);
      if (r.status !== 'success') failures.push(`${q.dashboard} / ${q.panel} (${q.refId}): ${r.error}\n  ${expr}`);
      else if ((r.data?.result.length ?? 0) === 0) failures.push(`${q.dashboard} / ${q.panel} (${q.refId}): empty\n  ${expr}`);
    }
    expect(failures).toEqual([]);
  });

  it('the series carry the workload: every pod ready, routed operations, hops, stored objects', async () => {
    const value = async (expr: string): Promise<number> => Number((await query(expr)).data?.result[0]?.value[1] ?? NaN);
    expect(await value('sum(pastry_node_ready{namespace="local"})')).toBe(NODES);
    expect(await value('count(count by (pod) (pastry_node_ready{namespace="local", pod=~"pastry-[0-9]+"}))')).toBe(NODES);
    expect(await value('sum(pastry_route_duration_seconds_count{namespace="local", operation="get"})')).toBeGreaterThan(0);
    expect(await value('sum(pastry_route_hops_count{namespace="local"})')).toBeGreaterThan(0);
    expect(await value('sum(pastry_store_objects{namespace="local"})')).toBeGreaterThan(0);
    expect(await value('sum(pastry_store_bytes{namespace="local"})')).toBeGreaterThan(0);
    expect(await value('sum(grpc_server_handled_total{namespace="local", grpc_service="pastry.v1.Dht", grpc_method="Get", grpc_code="NOT_FOUND"})')).toBeGreaterThan(0);
    expect(await value('sum(grpc_client_handled_total{namespace="local", grpc_method="Forward", grpc_code="OK"})')).toBeGreaterThan(0);
    expect(await value('sum(pastry_maintenance_messages_total{namespace="local"})')).toBeGreaterThan(0);
    expect(await value('sum(pastry_membership_events_total{namespace="local", event="join"})')).toBeGreaterThan(0);
  });

  it('pastry monitor scrapes every pod with namespace and pod labels, in a config promtool accepts', async () => {
    const dir = path.join(ring.options.runDir, 'monitor');
    const targets = JSON.parse(readFileSync(path.join(dir, 'targets.json'), 'utf8')) as { targets: string[]; labels: Record<string, string> }[];
    expect(targets).toEqual(ring.state().pods.map((p) => ({ targets: [`${p.host}:${p.metricsPort}`], labels: { namespace: 'local', pod: p.name } })));
    const problems = await new Promise<string>((resolve) =>
      execFile(findTool('promtool'), ['check', 'config', path.join(dir, 'prometheus.yml')], (err, stdout, stderr) => resolve(err ? `${stdout}${stderr}` : '')),
    );
    expect(problems).toBe('');
  });

  it('promtool check metrics passes on every node\'s /metrics', async () => {
    const promtool = findTool('promtool');
    for (const pod of ring.state().pods) {
      const text = await (await fetch(`http://${pod.host}:${pod.metricsPort}/metrics`)).text();
      expect(text).toContain('pastry_node_ready 1');
      const problems = await new Promise<string>((resolve) => {
        const child = execFile(promtool, ['check', 'metrics'], (err, stdout, stderr) => resolve(err ? `${pod.name}: ${stdout}${stderr}` : ''));
        child.stdin!.end(text);
      });
      expect(problems).toBe('');
    }
  });
});

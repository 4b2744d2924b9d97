import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRunning, readState, waitForExit, type ClusterState } from './cluster';
import type { Io } from './commands';

/** `pastry monitor`: a local Prometheus scraping every pod of the local ring. */
export interface MonitorOptions {
  runDir: string;
  /** host:port Prometheus serves its UI and API on. */
  listen: string;
  /** Prometheus duration, e.g. 5s. */
  scrapeInterval: string;
  /** Seconds to wait for Prometheus to become ready. */
  timeoutS: number;
}

export const DEFAULT_MONITOR: Omit<MonitorOptions, 'runDir'> = { listen: '127.0.0.1:9090', scrapeInterval: '5s', timeoutS: 30 };

/** The labels Kubernetes gets from the ServiceMonitor's relabelling: the dashboards filter on them. */
export const LOCAL_NAMESPACE = 'local';

export const INSTALL_HINT = 'prometheus is not installed: run `sudo apt-get install prometheus` (Debian/Ubuntu; `make test-deps` does it too), or put a prometheus binary on PATH';

interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** One file_sd target group per pod, labelled namespace="local", pod="pastry-i". */
export function scrapeTargets(state: ClusterState | undefined): TargetGroup[] {
  return (state?.pods ?? []).map((p) => ({ targets: [`${p.host}:${p.metricsPort}`], labels: { namespace: LOCAL_NAMESPACE, pod: p.name } }));
}

/** Prometheus configuration scraping the pods listed in `targetsFile` (file_sd, so a scaled ring is picked up). */
export function prometheusConfig(scrapeInterval: string, targetsFile: string): string {
  return [
    'global:',
    `  scrape_interval: ${scrapeInterval}`,
    `  evaluation_interval: ${scrapeInterval}`,
    'scrape_configs:',
    '  - job_name: pastry',
    '    metrics_path: /metrics',
    '    file_sd_configs:',
    `      - files: [${JSON.stringify(targetsFile)}]`,
    '        refresh_interval: 5s',
    '',
  ].join('\n');
}

export function findPrometheus(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'prometheus');
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function monitorDir(runDir: string): string {
  return path.resolve(runDir, 'monitor');
}

function pidFile(runDir: string): string {
  return path.join(monitorDir(runDir), 'prometheus.pid');
}

function runningPid(runDir: string): number | undefined {
  const file = pidFile(runDir);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
}

function writeTargets(file: string, state: ClusterState | undefined): string {
  const text = JSON.stringify(scrapeTargets(state), null, 2) + '\n';
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return text;
  writeFileSync(file + '.tmp', text);
  renameSync(file + '.tmp', file);
  return text;
}

export async function monitorCommand(sub: string | undefined, options: MonitorOptions, io: Io): Promise<number> {
  if (sub === 'stop') return monitorStop(options.runDir, io);
  if (sub !== undefined && sub !== 'start') throw new Error(`unknown monitor command ${JSON.stringify(sub)}: use pastry monitor [stop]`);
  return monitorRun(options, io);
}

/** Starts Prometheus in the foreground; Ctrl-C or `pastry monitor stop` ends it. */
async function monitorRun(options: MonitorOptions, io: Io): Promise<number> {
  const binary = findPrometheus();
  if (!binary) throw new Error(INSTALL_HINT);
  const existing = runningPid(options.runDir);
  if (existing) throw new Error(`prometheus already runs for ${options.runDir} (pid ${existing}); stop it with \`pastry monitor stop\``);
  const dir = monitorDir(options.runDir);
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const targetsFile = path.join(dir, 'targets.json');
  const configFile = path.join(dir, 'prometheus.yml');
  writeTargets(targetsFile, readState(options.runDir));
  writeFileSync(configFile, prometheusConfig(options.scrapeInterval, targetsFile));
  const logFile = path.join(dir, 'prometheus.log');
  const log = openSync(logFile, 'a');
  const child = spawn(
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${options.listen}`, '--storage.tsdb.retention.time=2d'],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const pid = child.pid ?? -1;
  writeFileSync(pidFile(options.runDir), `${pid}\n`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const refresh = setInterval(() => writeTargets(targetsFile, readState(options.runDir)), 2000);
  const stop = (): void => {
    if (isRunning(pid)) child.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const ready = await Promise.race([waitReady(options.listen, options.timeoutS * 1000), exited.then(() => false)]);
    if (!ready) {
      stop();
      throw new Error(`prometheus did not become ready on ${options.listen}; see ${logFile}`);
    }
    const pods = scrapeTargets(readState(options.runDir)).length;
    io.out(`prometheus on http://${options.listen} scrapes ${pods} pod${pods === 1 ? '' : 's'} of ${options.runDir} every ${options.scrapeInterval} (pid ${pid}, data in ${dir})`);
    io.out('dashboards: grafana/dashboards/*.json; Ctrl-C or `pastry monitor stop` stops prometheus');
    const code = await exited;
    return code === 0 || code === null ? 0 : 1;
  } finally {
    clearInterval(refresh);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    stop();
    await waitForExit([pid], 10_000);
    rmSync(pidFile(options.runDir), { force: true });
  }
}

async function monitorStop(runDir: string, io: Io): Promise<number> {
  const pid = runningPid(runDir);
  if (!pid) {
    io.out('prometheus is not running');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  const left = await waitForExit([pid], 10_000);
  for (const p of left) process.kill(p, 'SIGKILL');
  rmSync(pidFile(runDir), { force: true });
  io.out(`stopped prometheus (pid ${pid})`);
  return 0;
}

async function waitReady(listen: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://${listen}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

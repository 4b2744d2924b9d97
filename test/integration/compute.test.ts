import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, status as grpcStatus } from '@grpc/grpc-js';
import { signalPod } from '../../services/cli/src/cluster';
import { ComputeClient, type JobStatus } from '../../services/node/src/gen/pastry/v1/compute';
import { startRing, type TestRing } from '../helpers/local-ring';
import { CLI } from '../helpers/tools';

jest.setTimeout(240_000);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const SUBNET = '127.0.57';
const addr = (i: number): string => `${SUBNET}.${i + 1}:7000`;
const ROOT = path.join(__dirname, '..', '..');
const wasm = (name: string): string => path.join(ROOT, 'examples', 'compute', 'build', `${name}.wasm`);
const CHUNK = 16 * 1024;

/** Seeded text: words of 1-30 letters between runs of spaces, tabs and newlines. */
function text(bytes: number, seed: number): Buffer {
  let x = seed >>> 0;
  const next = (n: number): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % n;
  };
  const out = Buffer.alloc(bytes);
  let i = 0;
  while (i < bytes) {
    const word = 1 + next(next(10) === 0 ? 30 : 8);
    for (let j = 0; j < word && i < bytes; j++) out[i++] = 97 + next(26);
    const gap = 1 + next(3);
    for (let j = 0; j < gap && i < bytes; j++) out[i++] = [32, 32, 9, 10][next(4)]!;
  }
  return out;
}

const words = (b: Buffer): number => b.toString('latin1').split(/[ \t\n\v\f\r]+/).filter((w) => w !== '').length;

function occurrences(hay: Buffer, needle: Buffer): number {
  let n = 0;
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) n++;
  return n;
}

describe('distributed computing on a local ring (pastry compute ...)', () => {
  let ring: TestRing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pastry-compute-'));
  const file = path.join(dir, 'words.txt');
  const bytes = text(2 * 1024 * 1024 + 1234, 7);
  let guid = '';

  const pastry = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args, '--run-dir', ring.options.runDir], { maxBuffer: 64 << 20, env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' }, timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    if (!existsSync(wasm('fixtures/spin'))) execFileSync('bash', [path.join(ROOT, 'examples', 'compute', 'build.sh')], { stdio: 'inherit' });
    writeFileSync(file, bytes);
    // One slot and a queue of two per node: a job's 64 units in flight keep meeting full
    // queues, which must hold them back, not fail them.
    ring = await startRing(5, SUBNET, { PASTRY_COMPUTE_SLOTS: '1', PASTRY_COMPUTE_QUEUE: '2' });
    const put = await pastry('file', 'put', file, '--chunk-size', '16k', '--json', '--target', addr(0));
    expect(put.code).toBe(0);
    guid = JSON.parse(put.stdout).guid;
  });

  afterAll(async () => {
    await ring?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('word count over a file, one unit per chunk, equals a local count (words split by chunk boundaries too)', async () => {
    const r = await pastry('compute', 'run', wasm('wordcount'), '--input', guid, '--reduce', 'reduce', '--json', '--target', addr(1));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.result).toBe(String(words(bytes)));
    expect(out.units).toBe(Math.ceil(bytes.length / CHUNK));
    expect(out.failed).toBe(0);
    // The job is on record where it ran.
    const status = await pastry('compute', 'status', out.job, '--json', '--target', addr(1));
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'done', units: out.units, done: out.units, failed: 0 });
  });

  it('SHA-256 of every chunk, concatenated in file order; grep with a pattern as the argument', async () => {
    const sha = await pastry('compute', 'run', wasm('sha256'), '--input', guid, '--target', addr(2));
    expect(sha.code).toBe(0);
    const expected = [];
    for (let at = 0; at < bytes.length; at += CHUNK) expected.push(createHash('sha256').update(bytes.subarray(at, at + CHUNK)).digest('hex'));
    expect(sha.stdout.trim().split('\n')).toEqual(expected);
    const pattern = 'ab';
    const grep = await pastry('compute', 'run', wasm('grep'), '--input', guid, '--arg', pattern, '--reduce', 'reduce', '--json', '--target', addr(3));
    expect(grep.code).toBe(0);
    expect(JSON.parse(grep.stdout).result).toBe(String(occurrences(bytes, Buffer.from(pattern))));
  });

  it('objects as inputs with the sum reduce, and each unit on two replicas that must agree', async () => {
    const guids: string[] = [];
    let total = 0;
    for (let i = 0; i < 6; i++) {
      const value = 'x'.repeat(100 * (i + 1));
      total += value.length;
      const put = await pastry('put', `compute-object-${i}`, value, '--json', '--target', addr(0));
      expect(put.code).toBe(0);
      guids.push(JSON.parse(put.stdout).guid);
    }
    // spin writes its input's size in decimal.
    const r = await pastry('compute', 'run', wasm('fixtures/spin'), '--objects', guids.join(','), '--arg', '1000', '--reduce', 'sum', '--redundancy', '2', '--json', '--target', addr(4));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: String(total), units: 6, failed: 0 });
  });

  it('a unit that loops forever fails at its time limit, a forbidden import is refused, and the ring carries on', async () => {
    const loop = await pastry('compute', 'run', wasm('fixtures/loop'), '--objects', guid, '--timeout', '1', '--json', '--target', addr(0));
    expect(loop.code).toBe(1);
    const out = JSON.parse(loop.stdout);
    expect(out.state).toBe('failed');
    expect(out.failures[0].error).toMatch(/time limit of 1000 ms/);
    expect(loop.stderr).toMatch(/job [0-9a-f]{32} failed: 1 of 1 units failed/);
    const forbidden = await pastry('compute', 'run', wasm('fixtures/forbidden'), '--input', guid, '--target', addr(0));
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/INVALID_ARGUMENT: the module imports function wasi_snapshot_preview1\.fd_write/);
    const bad = await pastry('compute', 'run', wasm('wordcount'), '--target', addr(0));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--input FILE_GUID or --objects/);
    const again = await pastry('compute', 'run', wasm('wordcount'), '--input', guid, '--reduce', 'reduce', '--json', '--target', addr(0));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).result).toBe(String(words(bytes)));
  });

  it('a job whose client goes away is cancelled: no unit is sent after that, and it is on record as cancelled', async () => {
    const wasmBytes = readFileSync(wasm('fixtures/spin'));
    const client = new ComputeClient(addr(1), credentials.createInsecure());
    const unitsRun = async (): Promise<number> => {
      let total = 0;
      for (const pod of ring.state().pods) {
        const text = await fetch(`http://${pod.host}:${pod.metricsPort}/metrics`).then((r) => r.text());
        total += Number(/^pastry_compute_units_total (\d+)/m.exec(text)?.[1] ?? NaN);
      }
      return total;
    };
    const before = await unitsRun();
    let jobId = '';
    let doneAtCancel = -1;
    try {
      await new Promise<void>((resolve, reject) => {
        const call = client.run({ module: wasmBytes, moduleGuid: Buffer.alloc(0), inputFile: Buffer.from(guid, 'hex'), inputObjects: [], reduce: 'sum', redundancy: 0, arg: Buffer.from('80000000'), function: '', unitTimeoutMs: 0 });
        const giveUp = setTimeout(() => reject(new Error('no unit finished in 60 s')), 60_000);
        call.on('data', (s: JobStatus) => {
          jobId = Buffer.from(s.jobId).toString('hex');
          if (s.done > 0 && doneAtCancel < 0) {
            doneAtCancel = s.done;
            clearTimeout(giveUp);
            call.cancel();
            resolve();
          }
        });
        call.on('error', (e: { code?: number }) => {
          if (e.code !== grpcStatus.CANCELLED) reject(e);
        });
      });
      // The job ends once the units in flight come back; then it is on record as cancelled.
      let final: { state: string; done: number; failed: number; units: number; error: string } | undefined;
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const r = await pastry('compute', 'status', jobId, '--json', '--target', addr(1));
        expect(r.code).toBe(0);
        final = JSON.parse(r.stdout);
        if (final!.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(final).toMatchObject({ state: 'cancelled', failed: 0 });
      expect(final!.error).toMatch(/cancelled by its client after \d+ of \d+ units/);
      // At most the units already sent (64 in flight) ran after the cancel, never the whole job.
      expect(final!.done).toBeLessThan(final!.units);
      const ran = (await unitsRun()) - before;
      expect(ran).toBeLessThanOrEqual(doneAtCancel + 64);
      expect(ran).toBeLessThan(final!.units);
      // Nothing more is sent afterwards.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await unitsRun()) - before).toBe(ran);
      const metrics = await fetch(`http://${ring.state().pods[1]!.host}:${ring.state().pods[1]!.metricsPort}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/^pastry_compute_jobs_total\{state="cancelled"\} 1$/m);
    } finally {
      client.close();
    }
  });

  it('a node killed in the middle of a job: its units run again elsewhere and the result is still right', async () => {
    // The node that is root of the most chunks (not the entry node): it runs the most units.
    const stat = await pastry('file', 'stat', guid, '--json', '--target', addr(0));
    expect(stat.code).toBe(0);
    const roots = new Map<string, number>();
    for (const c of JSON.parse(stat.stdout).chunkInfo as { replicas: { name: string }[] }[]) roots.set(c.replicas[0]!.name, (roots.get(c.replicas[0]!.name) ?? 0) + 1);
    const victim = [...roots].filter(([name]) => name !== 'pastry-0').sort((a, b) => b[1] - a[1])[0]![0];
    // Slow units (spin), so that the job is still running when the node dies.
    const child = spawn(process.execPath, [CLI, 'compute', 'run', wasm('fixtures/spin'), '--input', guid, '--arg', '80000000', '--reduce', 'sum', '--json', '--target', addr(0), '--run-dir', ring.options.runDir], {
      env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    try {
      // Killed while it runs a unit of the job (its metrics say so), so that a unit is lost with it.
      const pod = ring.state().pods.find((p) => p.name === victim)!;
      const running = async (): Promise<number> => {
        const text = await fetch(`http://${pod.host}:${pod.metricsPort}/metrics`).then((r) => r.text(), () => '');
        return Number(/^pastry_compute_units_running\S* (\d+)/m.exec(text)?.[1] ?? 0);
      };
      const until = Date.now() + 60_000;
      while ((await running()) === 0 && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 25));
      expect(child.exitCode).toBeNull();
      signalPod(ring.options.runDir, victim, 'SIGKILL');
      expect(await exited).toBe(0);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toBe('');
    const out = JSON.parse(stdout);
    // Every unit's output is its chunk's size: the sum is the file's size.
    expect(out.result).toBe(String(bytes.length));
    expect(out.failed).toBe(0);
    expect(out.retried).toBeGreaterThan(0);
    // The entry node's metric says why units were sent again, every cause counted.
    const entry = ring.state().pods.find((p) => p.name === 'pastry-0')!;
    const metrics = await fetch(`http://${entry.host}:${entry.metricsPort}/metrics`).then((r) => r.text());
    const causes = [...metrics.matchAll(/^pastry_compute_units_retried_total\{cause="(rerouted|timeout|unavailable)"\} (\d+)$/gm)];
    expect(causes.map((m) => m[1]).sort()).toEqual(['rerouted', 'timeout', 'unavailable']);
    expect(causes.reduce((n, m) => n + Number(m[2]), 0)).toBeGreaterThanOrEqual(out.retried);
  });
});

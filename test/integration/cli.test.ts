import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { CLI } from '../helpers/tools';

jest.setTimeout(180_000);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the pastry CLI on a local ring', () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'pastry-cli-'));
  const pastry = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args, '--run-dir', runDir], { encoding: 'buffer', env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' }, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.toString(), stderr: stderr.toString() }),
      );
    });

  beforeAll(async () => {
    const up = await pastry('cluster', 'up', '--nodes', '5', '--subnet', '127.0.14');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
  });

  afterAll(async () => {
    const down = await pastry('cluster', 'down');
    expect(down.code).toBe(0);
    rmSync(runDir, { recursive: true, force: true });
  });

  it('cluster status --json lists every pod', async () => {
    const r = await pastry('cluster', 'status', '--json');
    expect(r.code).toBe(0);
    const { pods } = JSON.parse(r.stdout);
    expect(pods).toHaveLength(5);
    pods.forEach((p: Record<string, unknown>, i: number) => {
      expect(Object.keys(p).sort()).toEqual(['address', 'id', 'name', 'pid', 'ready']);
      expect(p.name).toBe(`pastry-${i}`);
      expect(p.address).toBe(`127.0.14.${i + 1}:7000`);
      expect(p.id).toBe(createHash('sha256').update(`pastry-${i}`).digest().subarray(0, 16).toString('hex'));
      expect(p.ready).toBe(true);
      expect(p.pid).toBeGreaterThan(0);
    });
  });

  it('put prints the GUID, get writes the bytes, rm removes', async () => {
    const put = await pastry('put', 'cli-object', 'some value');
    expect(put.code).toBe(0);
    expect(put.stdout.trim()).toBe(createHash('sha256').update('cli-object').digest().subarray(0, 16).toString('hex'));
    const get = await pastry('get', 'cli-object');
    expect(get.stdout).toBe('some value');
    const byGuid = await pastry('get', put.stdout.trim().toUpperCase());
    expect(byGuid.stdout).toBe('some value');
    const rm = await pastry('rm', 'cli-object', '--json');
    expect(JSON.parse(rm.stdout)).toMatchObject({ removed: true });
    const gone = await pastry('get', 'cli-object');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/NOT_FOUND/);
  });

  it('put --file stores a content-addressed object', async () => {
    const file = path.join(runDir, 'blob.bin');
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    writeFileSync(file, bytes);
    const put = await pastry('put', '--file', file);
    expect(put.stdout.trim()).toBe(createHash('sha256').update(bytes).digest().subarray(0, 16).toString('hex'));
    const get = await pastry('get', put.stdout.trim(), '--json');
    expect(Buffer.from(JSON.parse(get.stdout).valueBase64, 'base64').equals(bytes)).toBe(true);
  });

  it('route --json prints the hop path ending at the root', async () => {
    const r = await pastry('route', 'some-key', '--json');
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['hops', 'key', 'root']);
    expect(out.key).toMatch(/^[0-9a-f]{32}$/);
    for (const n of [out.root, ...out.hops]) expect(Object.keys(n).sort()).toEqual(['address', 'id', 'name']);
    if (out.hops.length > 0) expect(out.hops[out.hops.length - 1]).toEqual(out.root);
    else expect(out.root.address).toBe('127.0.14.1:7000');
  });

  it('ring --json lists every member with its leaf set', async () => {
    const r = await pastry('ring', '--json');
    const { members } = JSON.parse(r.stdout);
    expect(members).toHaveLength(5);
    for (const m of members) expect(m.leafSet).toHaveLength(4);
  });

  it('balance --json counts live objects and bytes on every member, with max/mean', async () => {
    const r = await pastry('balance', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.members).toHaveLength(5);
    const objects = report.members.map((m: { objects: number }) => m.objects);
    const bytes = report.members.map((m: { bytes: number }) => m.bytes);
    expect(report.objects.total).toBe(objects.reduce((a: number, b: number) => a + b, 0));
    expect(report.bytes.total).toBe(bytes.reduce((a: number, b: number) => a + b, 0));
    // At least the 3,000-byte file above, on each of its 3 replicas.
    expect(report.objects.total).toBeGreaterThanOrEqual(3);
    expect(report.bytes.total).toBeGreaterThanOrEqual(3 * 3000);
    expect(report.objects.max).toBe(Math.max(...objects));
    expect(report.objects.maxOverMean).toBeCloseTo(Math.max(...objects) / (report.objects.total / 5), 2);
    const text = await pastry('balance');
    expect(text.stdout).toMatch(/objects: \d+ on 5 members, mean [\d.]+, max \d+ \(pastry-\d\), max\/mean [\d.]+/);
  });

  it('errors are clear and exit non-zero', async () => {
    const usage = await pastry('get');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/usage: pastry get/);
    const unknown = await pastry('frobnicate');
    expect(unknown.code).toBe(2);
    const unreachable = await pastry('status', '--target', '127.0.14.200:7000', '--timeout', '2');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/127\.0\.14\.200:7000: (UNAVAILABLE|DEADLINE_EXCEEDED)/);
  });
});

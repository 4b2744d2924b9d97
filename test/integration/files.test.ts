import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { signalPod, startPod, waitForRing } from '../../services/cli/src/cluster';
import { FilesClient, type DownloadResponse } from '../../services/node/src/gen/pastry/v1/files';
import { startRing, type TestRing } from '../helpers/local-ring';
import { CLI } from '../helpers/tools';

jest.setTimeout(240_000);

interface Result {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const SUBNET = '127.0.30';
const addr = (i: number): string => `${SUBNET}.${i + 1}:7000`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('file sharing on a local ring (pastry file ...)', () => {
  let ring: TestRing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pastry-files-'));
  const small = path.join(dir, 'small.bin');
  const big = path.join(dir, 'big.bin');
  const smallBytes = randomBytes(12 * 1024 * 1024 + 777);
  const bigBytes = randomBytes(96 * 1024 * 1024);
  let smallGuid = '';

  const pastry = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args, '--run-dir', ring.options.runDir], { encoding: 'buffer', maxBuffer: 64 << 20, env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' }, timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() }),
      );
    });

  /** Runs the CLI in the background; `killWhen` runs once `ready()` holds. */
  const during = async (args: string[], ready: () => boolean, action: () => Promise<void> | void): Promise<Result> => {
    const child = spawn(process.execPath, [CLI, ...args, '--run-dir', ring.options.runDir], { env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    try {
      const until = Date.now() + 60_000;
      while (!ready() && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      expect(child.exitCode).toBeNull();
      await action();
      return { code: await exited, stdout: Buffer.concat(out), stderr };
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  };

  const restart = async (i: number): Promise<void> => {
    const state = ring.state();
    startPod(state, i, ring.options, ring.env);
    await waitForRing(ring.state(), 60_000);
  };

  beforeAll(async () => {
    writeFileSync(small, smallBytes);
    writeFileSync(big, bigBytes);
    ring = await startRing(6, SUBNET);
  });

  afterAll(async () => {
    await ring?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('put prints the GUID and the JSON summary; get from another node writes the same bytes, to a file or stdout', async () => {
    const put = await pastry('file', 'put', small, '--json', '--target', addr(0));
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const summary = JSON.parse(put.stdout.toString());
    expect(Object.keys(summary).sort()).toEqual(['bytesPerSecond', 'chunkSize', 'chunks', 'guid', 'seconds', 'size']);
    expect(summary).toMatchObject({ size: smallBytes.length, chunkSize: 262144, chunks: 49 });
    smallGuid = summary.guid;
    expect(smallGuid).toMatch(/^[0-9a-f]{32}$/);
    const out = path.join(dir, 'small.out');
    const get = await pastry('file', 'get', smallGuid, '-o', out, '--target', addr(3));
    expect(get.code).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(smallBytes));
    const piped = await pastry('file', 'get', smallGuid, '-o', '-', '--target', addr(4));
    expect(piped.code).toBe(0);
    expect(sha(piped.stdout)).toBe(sha(smallBytes));
    // The manifest is a plain content-addressed object: any client can read it with Get.
    const manifest = await pastry('get', smallGuid, '--target', addr(5));
    expect(createHash('sha256').update(manifest.stdout).digest().subarray(0, 16).toString('hex')).toBe(smallGuid);
  });

  it('stat names every chunk with its hash and its 3 replicas', async () => {
    const stat = await pastry('file', 'stat', smallGuid, '--json', '--target', addr(2));
    expect(stat.code).toBe(0);
    const s = JSON.parse(stat.stdout.toString());
    expect(s).toMatchObject({ guid: smallGuid, size: smallBytes.length, chunkSize: 262144, chunks: 49 });
    expect(s.chunkInfo).toHaveLength(49);
    s.chunkInfo.forEach((c: { index: number; hash: string; replicas: unknown[] }, i: number) => {
      expect(c.index).toBe(i);
      expect(c.hash).toBe(sha(smallBytes.subarray(i * 262144, (i + 1) * 262144)));
      expect(c.replicas).toHaveLength(3);
    });
    const text = await pastry('file', 'stat', smallGuid, '--target', addr(2));
    expect(text.stdout.toString()).toContain(`file ${smallGuid}: 12.0 MiB`);
  });

  it('a byte range through the API is exactly that slice', async () => {
    const client = new FilesClient(addr(1), credentials.createInsecure());
    try {
      const call = client.download({ guid: Buffer.from(smallGuid, 'hex'), offset: 300_000, length: 1_000_000 });
      const parts: Buffer[] = [];
      for await (const piece of call as AsyncIterable<DownloadResponse>) parts.push(Buffer.from(piece.data));
      expect(Buffer.concat(parts).equals(smallBytes.subarray(300_000, 1_300_000))).toBe(true);
    } finally {
      client.close();
    }
  });

  it('get resumes a partial file: verified chunks are kept, a wrong tail is fetched again', async () => {
    const out = path.join(dir, 'partial.out');
    const partial = Buffer.concat([smallBytes.subarray(0, 5 * 262144 + 1000), Buffer.from('not the file')]);
    writeFileSync(out, partial);
    const get = await pastry('file', 'get', smallGuid, '-o', out, '--target', addr(1));
    expect(get.code).toBe(0);
    expect(get.stderr).toContain('resuming');
    expect(get.stderr).toContain('1.3 MiB');
    expect(sha(readFileSync(out))).toBe(sha(smallBytes));
  });

  it('an upload whose client is killed leaves none of its chunks behind', async () => {
    const liveObjects = async (): Promise<number> => JSON.parse((await pastry('balance', '--json', '--target', addr(0))).stdout.toString()).objects.total as number;
    // Copies on the ring, once no repair or handoff moves them (two equal counts 2 s apart).
    let before = await liveObjects();
    for (const until = Date.now() + 30_000; Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 2000));
      const again = await liveObjects();
      if (again === before) break;
      before = again;
    }
    const child = spawn(process.execPath, [CLI, 'file', 'put', big, '--target', addr(1), '--run-dir', ring.options.runDir], { stdio: 'ignore' });
    try {
      const until = Date.now() + 30_000;
      while ((await liveObjects()) < before + 30 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await liveObjects()).toBeGreaterThanOrEqual(before + 30);
    } finally {
      child.kill('SIGKILL');
    }
    const until = Date.now() + 60_000;
    let now = await liveObjects();
    while (now !== before && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      now = await liveObjects();
    }
    expect(now).toBe(before);
  });

  it('a download whose node is killed goes on through the next node and is byte-identical', async () => {
    const put = await pastry('file', 'put', big, '--target', addr(0));
    expect(put.code).toBe(0);
    const guid = put.stdout.toString().trim();
    const out = path.join(dir, 'big.out');
    const r = await during(
      ['file', 'get', guid, '-o', out, '--target', `${addr(1)},${addr(2)}`],
      () => existsSync(out) && statSync(out).size > 8 * 1024 * 1024,
      () => {
        signalPod(ring.options.runDir, 'pastry-1', 'SIGKILL');
      },
    );
    expect(r.stderr).toContain('resuming through');
    expect(r.code).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(bigBytes));
    await restart(1);
  });

  it('an upload while a node holding chunks is killed completes, and reads back whole', async () => {
    let started = 0;
    const r = await during(
      ['file', 'put', big, '--json', '--target', addr(2)],
      () => (started ||= Date.now()) + 800 < Date.now(),
      () => {
        signalPod(ring.options.runDir, 'pastry-4', 'SIGKILL');
      },
    );
    expect(r.code).toBe(0);
    const guid = JSON.parse(r.stdout.toString()).guid as string;
    const out = path.join(dir, 'big2.out');
    const get = await pastry('file', 'get', guid, '-o', out, '--target', addr(5));
    expect(get.code).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(bigBytes));
    await restart(4);
  });

  it('rm removes the file; what is gone or malformed gets a clear error', async () => {
    const rm = await pastry('file', 'rm', smallGuid, '--json', '--target', addr(3));
    expect(rm.code).toBe(0);
    expect(JSON.parse(rm.stdout.toString())).toEqual({ guid: smallGuid, removed: true, chunksRemoved: 49 });
    const get = await pastry('file', 'get', smallGuid, '-o', path.join(dir, 'gone.out'), '--target', addr(0));
    expect(get.code).toBe(1);
    expect(get.stderr).toContain(`no file with GUID ${smallGuid}`);
    expect(existsSync(path.join(dir, 'gone.out'))).toBe(false);
    const again = await pastry('file', 'rm', smallGuid, '--target', addr(3));
    expect(again.code).toBe(1);
    const badGuid = await pastry('file', 'get', 'not-a-guid', '-o', path.join(dir, 'x'));
    expect(badGuid.code).toBe(2);
    expect(badGuid.stderr).toContain('32 hex digits');
    const noFile = await pastry('file', 'put', path.join(dir, 'missing.bin'));
    expect(noFile.code).toBe(2);
    // A file over the value limit, put as one object, is refused with a pointer to `file put`.
    const whole = await pastry('put', '--file', small, '--target', addr(0));
    expect(whole.code).toBe(1);
    expect(whole.stderr).toContain(`RESOURCE_EXHAUSTED`);
    expect(whole.stderr).toContain(`pastry file put ${small}`);
    const badChunk = await pastry('file', 'put', small, '--chunk-size', '1000', '--target', addr(0));
    expect(badChunk.code).toBe(1);
    expect(badChunk.stderr).toContain('INVALID_ARGUMENT: chunk size must be a power of two');
  });
});

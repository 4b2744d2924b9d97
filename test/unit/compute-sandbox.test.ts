import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ownBytes, Sandbox, UnitError } from '../../services/node/src/compute/sandbox';
import { prepareModule, WASM_PAGE } from '../../services/node/src/compute/wasm-module';
import { InvalidArgumentError, ResourceExhaustedError } from '../../services/node/src/errors';

jest.setTimeout(120_000);

const ROOT = path.join(__dirname, '..', '..');
const MEMORY = 16 * 1024 * 1024;

function fixture(name: string): Buffer {
  return readFileSync(path.join(ROOT, 'examples', 'compute', 'build', 'fixtures', `${name}.wasm`));
}

function prepared(name: string, entries = ['run']): WebAssembly.Module {
  return prepareModule(fixture(name), entries, MEMORY).module;
}

async function failure(p: Promise<unknown>): Promise<UnitError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnitError);
  return error as UnitError;
}

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'examples', 'compute', 'build', 'fixtures', 'loop.wasm'))) execFileSync('bash', [path.join(ROOT, 'examples', 'compute', 'build.sh')], { stdio: 'inherit' });
});

describe('compute sandbox', () => {
  let sandbox: Sandbox;
  afterEach(async () => {
    await sandbox?.close();
  });

  it('runs units in worker threads and returns what they wrote', async () => {
    sandbox = new Sandbox({ slots: 2, queue: 16, memoryBytes: MEMORY, timeoutMs: 5_000, maxOutputBytes: 1 << 20 });
    const echo = prepared('echo');
    const inputs = Array.from({ length: 12 }, (_, i) => Buffer.alloc(1000 * i + 1, i));
    const outputs = await Promise.all(inputs.map((input) => sandbox.run(echo, 'run', input, Buffer.alloc(0))));
    outputs.forEach((o, i) => expect(o.equals(inputs[i]!)).toBe(true));
    expect(sandbox.stats).toEqual({ running: 0, queued: 0, ok: 12, failed: 0 });
  });

  it('gives a unit exactly its bytes, whatever larger buffer they are a view of', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 5_000, maxOutputBytes: 1 << 20 });
    const pool = Buffer.alloc(4 << 20, 7);
    const view = pool.subarray(1000, 1000 + 256 * 1024);
    view.write('start');
    const own = ownBytes(view);
    // Posting `view` itself would copy the whole 4 MiB pool to the worker.
    expect(own.buffer.byteLength).toBe(view.length);
    expect(Buffer.from(own).equals(view)).toBe(true);
    const out = await sandbox.run(prepared('echo'), 'run', view, Buffer.alloc(0));
    expect(out.equals(view)).toBe(true);
    // The caller's buffer is left as it was (only the copy is transferred).
    expect(pool.length).toBe(4 << 20);
    expect(view.subarray(0, 5).toString()).toBe('start');
  });

  it('times a unit from its start in a slot, not from its wait in the queue', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 400, maxOutputBytes: 1 << 20 });
    const t0 = Date.now();
    const first = failure(sandbox.runTimed(prepared('loop'), 'run', Buffer.alloc(0), Buffer.alloc(0)));
    const second = sandbox.runTimed(prepared('echo'), 'run', Buffer.from('queued'), Buffer.alloc(0));
    const e = await first;
    expect(e.ms).toBeGreaterThanOrEqual(390);
    const { output, ms } = await second;
    expect(output.toString()).toBe('queued');
    // It waited about 400 ms for the slot, and ran in a small part of that.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(200);
  });

  it('ends a unit that loops forever at its time limit, and the next unit runs', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 400, maxOutputBytes: 1 << 20 });
    const t0 = Date.now();
    const e = await failure(sandbox.run(prepared('loop'), 'run', Buffer.alloc(0), Buffer.alloc(0)));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/time limit of 400 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    const out = await sandbox.run(prepared('echo'), 'run', Buffer.from('still here'), Buffer.alloc(0));
    expect(out.toString()).toBe('still here');
  });

  it('stops a unit that allocates past its memory cap, without the node growing', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 10_000, maxOutputBytes: 1 << 20 });
    const rss = process.memoryUsage().rss;
    const e = await failure(sandbox.run(prepared('bomb'), 'run', Buffer.alloc(0), Buffer.alloc(0)));
    expect(e.kind).toBe('memory');
    expect(e.message).toMatch(/of its 16.0 MiB memory cap in use/);
    // The cap is the module's own memory limit: nothing near a runaway allocation.
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024);
    expect((await sandbox.run(prepared('echo'), 'run', Buffer.from('ok'), Buffer.alloc(0))).toString()).toBe('ok');
  });

  it('reports a trap and an abort with their messages', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 5_000, maxOutputBytes: 1 << 20 });
    const trap = await failure(sandbox.run(prepared('trap'), 'run', Buffer.alloc(0), Buffer.alloc(0)));
    expect(trap.kind).toBe('trap');
    expect(trap.message).toMatch(/unreachable/);
    const abort = await failure(sandbox.run(prepared('abort'), 'run', Buffer.alloc(0), Buffer.alloc(0)));
    expect(abort.kind).toBe('abort');
    expect(abort.message).toMatch(/bad input/);
  });

  it('caps what a unit writes', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 4, memoryBytes: MEMORY, timeoutMs: 5_000, maxOutputBytes: 1000 });
    const e = await failure(sandbox.run(prepared('echo'), 'run', Buffer.alloc(5000), Buffer.alloc(0)));
    expect(e.kind).toBe('output');
    expect(e.message).toMatch(/more than 1000 bytes/);
  });

  it('refuses units beyond its slots and queue (back-pressure)', async () => {
    sandbox = new Sandbox({ slots: 1, queue: 1, memoryBytes: MEMORY, timeoutMs: 300, maxOutputBytes: 1 << 20 });
    const loop = prepared('loop');
    const first = sandbox.run(loop, 'run', Buffer.alloc(0), Buffer.alloc(0)).catch((e: unknown) => e);
    const second = sandbox.run(loop, 'run', Buffer.alloc(0), Buffer.alloc(0)).catch((e: unknown) => e);
    expect(sandbox.stats.running).toBe(1);
    expect(sandbox.stats.queued).toBe(1);
    await expect(sandbox.run(loop, 'run', Buffer.alloc(0), Buffer.alloc(0))).rejects.toThrow(ResourceExhaustedError);
    expect(((await first) as UnitError).kind).toBe('timeout');
    expect(((await second) as UnitError).kind).toBe('timeout');
  });
});

describe('compute modules', () => {
  it('refuses a module that imports anything but the host API, naming the import', () => {
    expect(() => prepareModule(fixture('forbidden'), ['run'], MEMORY)).toThrow(InvalidArgumentError);
    expect(() => prepareModule(fixture('forbidden'), ['run'], MEMORY)).toThrow(/imports function wasi_snapshot_preview1\.fd_write/);
  });

  it('refuses bytes that are not a module, and a module without the function asked for', () => {
    expect(() => prepareModule(Buffer.from('not wasm at all'), ['run'], MEMORY)).toThrow(/not a valid WebAssembly module/);
    expect(() => prepareModule(fixture('echo'), ['reduce'], MEMORY)).toThrow(/exports no function "reduce"/);
  });

  it('caps the memory a module can grow to', () => {
    const { module } = prepareModule(fixture('echo'), ['run'], 2 * WASM_PAGE * 16);
    const noop = (): number => 0;
    const instance = new WebAssembly.Instance(module, { pastry: { input_size: noop, input_read: noop, arg_size: noop, arg_read: noop, output_write: noop }, env: { abort: noop } });
    const memory = instance.exports.memory as WebAssembly.Memory & { grow(pages: number): number };
    expect(() => memory.grow(64)).toThrow(RangeError);
    expect(() => prepareModule(fixture('echo'), ['run'], WASM_PAGE / 2)).toThrow(/over the sandbox's cap/);
  });
});

import { Worker } from 'node:worker_threads';
import { ResourceExhaustedError } from '../errors';
import { WASM_PAGE } from './wasm-module';

export interface SandboxConfig {
  /** Units run at once, one worker thread each. */
  slots: number;
  /** Units waiting for a slot at most; beyond, run() refuses (back-pressure). */
  queue: number;
  /** Linear memory a unit may reach (its module is capped to it: prepareModule). */
  memoryBytes: number;
  /** Wall time a unit may run. */
  timeoutMs: number;
  /** Bytes a unit may write. */
  maxOutputBytes: number;
}

/** How a unit ended badly: its own doing, never the node's. */
export type UnitErrorKind = 'trap' | 'abort' | 'memory' | 'timeout' | 'output' | 'crash';

export class UnitError extends Error {
  /** How long the unit ran before it failed (0 when it never started). */
  ms = 0;

  constructor(
    readonly kind: UnitErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The bytes of `view` in a buffer of their own. Posting a view to a worker copies its whole
 * underlying buffer, and a Buffer is often a slice of a much larger pool (Node's, or a Redis
 * reply's): a copy of exactly its bytes, transferred, is the only copy made.
 */
export function ownBytes(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

export interface SandboxStats {
  running: number;
  queued: number;
  ok: number;
  failed: number;
}

interface Job {
  module: WebAssembly.Module;
  entry: string;
  input: Uint8Array;
  arg: Uint8Array;
  timeoutMs: number;
  resolve: (result: { output: Buffer; ms: number }) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker | undefined;
  busy: boolean;
}

/**
 * Runs work units: WebAssembly modules in worker threads, with nothing to import but the host
 * API, memory capped by the module's own limits, wall time capped by terminating the worker,
 * and a bounded number at once with a bounded queue, so computation never takes every core
 * from routing and storage. A unit that fails, however it fails, ends with a UnitError; the
 * node and the other units go on.
 */
export class Sandbox {
  readonly stats: SandboxStats = { running: 0, queued: 0, ok: 0, failed: 0 };
  private readonly slots: Slot[];
  private readonly waiting: Job[] = [];
  private closed = false;
  private nextId = 1;

  constructor(private readonly config: SandboxConfig) {
    this.slots = Array.from({ length: Math.max(1, config.slots) }, () => ({ worker: undefined, busy: false }));
  }

  /** Runs `entry` of `module` (from prepareModule) on `input`; resolves with what it wrote. */
  async run(module: WebAssembly.Module, entry: string, input: Uint8Array, arg: Uint8Array, timeoutMs = this.config.timeoutMs): Promise<Buffer> {
    return (await this.runTimed(module, entry, input, arg, timeoutMs)).output;
  }

  /**
   * As run(), with the milliseconds the unit ran (from its start in a slot, not counting its
   * wait in the queue); a UnitError carries them too.
   */
  runTimed(module: WebAssembly.Module, entry: string, input: Uint8Array, arg: Uint8Array, timeoutMs = this.config.timeoutMs): Promise<{ output: Buffer; ms: number }> {
    if (this.closed) return Promise.reject(new ResourceExhaustedError('the compute sandbox is stopped'));
    const free = this.slots.find((s) => !s.busy);
    if (!free && this.waiting.length >= this.config.queue) {
      return Promise.reject(new ResourceExhaustedError(`this node's compute queue is full (${this.config.queue} units waiting)`));
    }
    return new Promise<{ output: Buffer; ms: number }>((resolve, reject) => {
      const job: Job = { module, entry, input, arg, timeoutMs: Math.min(timeoutMs, this.config.timeoutMs), resolve, reject };
      if (free) this.start(free, job);
      else {
        this.waiting.push(job);
        this.stats.queued = this.waiting.length;
      }
    });
  }

  /** Ends every worker; queued units are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new ResourceExhaustedError('the compute sandbox stopped'));
    this.stats.queued = 0;
    await Promise.all(this.slots.map(async (s) => s.worker?.terminate()));
  }

  private start(slot: Slot, job: Job): void {
    slot.busy = true;
    this.stats.running++;
    const worker = (slot.worker ??= this.spawn());
    const id = this.nextId++;
    const started = performance.now();
    let settled = false;
    const finish = (error: Error | undefined, output?: Buffer): void => {
      if (settled) return;
      settled = true;
      const ms = performance.now() - started;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      slot.busy = false;
      this.stats.running--;
      if (error) {
        this.stats.failed++;
        if (error instanceof UnitError) error.ms = ms;
        job.reject(error);
      } else {
        this.stats.ok++;
        job.resolve({ output: output!, ms });
      }
      const next = this.waiting.shift();
      this.stats.queued = this.waiting.length;
      if (next && !this.closed) this.start(slot, next);
    };
    const replace = (): void => {
      if (slot.worker === worker) slot.worker = undefined;
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      replace();
      finish(new UnitError('timeout', `the unit ran past its time limit of ${job.timeoutMs} ms`));
    }, job.timeoutMs);
    const onMessage = (m: WorkerReply): void => {
      if (m.id !== id) return;
      if (m.ok) finish(undefined, Buffer.from(m.output.buffer, m.output.byteOffset, m.output.byteLength));
      else finish(new UnitError(m.kind, m.message));
    };
    const onError = (error: Error): void => {
      replace();
      finish(new UnitError('crash', `the unit's worker failed: ${error.message}`));
    };
    const onExit = (code: number): void => {
      if (slot.worker === worker) slot.worker = undefined;
      finish(new UnitError('crash', `the unit's worker exited (code ${code})`));
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    const input = ownBytes(job.input);
    const arg = ownBytes(job.arg);
    const request: WorkerRequest = {
      id,
      module: job.module,
      entry: job.entry,
      input,
      arg,
      maxOutputBytes: this.config.maxOutputBytes,
      maxPages: Math.floor(this.config.memoryBytes / WASM_PAGE),
    };
    worker.postMessage(request, [input.buffer as ArrayBuffer, arg.buffer as ArrayBuffer]);
  }

  private spawn(): Worker {
    // The worker's own JavaScript heap is small and bounded; a unit's memory is its module's.
    const worker = new Worker(`(${workerMain.toString()})()`, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    return worker;
  }
}

interface WorkerRequest {
  id: number;
  module: WebAssembly.Module;
  entry: string;
  input: Uint8Array;
  arg: Uint8Array;
  maxOutputBytes: number;
  maxPages: number;
}

type WorkerReply = { id: number; ok: true; output: Uint8Array } | { id: number; ok: false; kind: UnitErrorKind; message: string };

/**
 * The worker thread's code, run from its source text (so that it needs no file of its own):
 * a fresh instance per unit, imports limited to the host API.
 */
function workerMain(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  class Abort extends Error {}
  class OutputLimit extends Error {}
  parentPort!.on('message', (m: WorkerRequest) => {
    let memory: WebAssembly.Memory | undefined;
    const chunks: Uint8Array[] = [];
    let written = 0;
    const view = (): Uint8Array => new Uint8Array(memory!.buffer);
    const reader =
      (source: Uint8Array) =>
      (offset: number, ptr: number, len: number): number => {
        if (offset < 0 || len < 0 || ptr < 0) throw new RangeError('negative offset, pointer or length');
        const n = Math.max(0, Math.min(len, source.length - offset));
        if (ptr + n > view().length) throw new RangeError('a read into memory past its end');
        view().set(source.subarray(offset, offset + n), ptr);
        return n;
      };
    const text = (ptr: number): string => {
      // AssemblyScript strings: UTF-16, their byte length in the 4 bytes before them.
      if (!memory || ptr < 4 || ptr > view().length) return '';
      const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
      return Buffer.from(view().subarray(ptr, Math.min(ptr + Math.min(bytes, 2048), view().length))).toString('utf16le');
    };
    const imports = {
      pastry: {
        input_size: () => m.input.length,
        input_read: reader(m.input),
        arg_size: () => m.arg.length,
        arg_read: reader(m.arg),
        output_write: (ptr: number, len: number) => {
          if (ptr < 0 || len < 0 || ptr + len > view().length) throw new RangeError('an output write from past the end of memory');
          written += len;
          if (written > m.maxOutputBytes) throw new OutputLimit(`the unit wrote more than ${m.maxOutputBytes} bytes`);
          chunks.push(view().slice(ptr, ptr + len));
        },
      },
      env: {
        abort: (message: number, file: number, line: number, column: number) => {
          const where = text(file);
          throw new Abort(`${text(message) || 'abort'}${where ? ` (${where}:${line}:${column})` : ''}`);
        },
      },
    };
    try {
      const instance = new WebAssembly.Instance(m.module, imports);
      memory = instance.exports.memory as WebAssembly.Memory;
      (instance.exports[m.entry] as () => void)();
      const output = new Uint8Array(written);
      let at = 0;
      for (const c of chunks) {
        output.set(c, at);
        at += c.length;
      }
      parentPort!.postMessage({ id: m.id, ok: true, output }, [output.buffer]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      let kind: UnitErrorKind = 'trap';
      let text = message;
      if (error instanceof Abort) kind = 'abort';
      else if (error instanceof OutputLimit) kind = 'output';
      else if (memory && /unreachable/.test(message) && memory.buffer.byteLength * 2 >= m.maxPages * 65_536) {
        // Allocators end in `unreachable` when memory.grow fails, and grow by up to double
        // the memory they have: a trap past half the cap is most likely the cap.
        kind = 'memory';
        const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
        text = `the unit trapped (${message}) with ${mib(memory.buffer.byteLength)} MiB of its ${mib(m.maxPages * 65_536)} MiB memory cap in use: most likely an allocation past the cap`;
      } else if (error instanceof RangeError && /call stack/i.test(message)) text = `stack overflow (${message})`;
      parentPort!.postMessage({ id: m.id, ok: false, kind, message: kind === 'trap' ? `the unit trapped: ${text}` : text });
    }
  });
}

// The example compute modules (examples/compute, AssemblyScript) run on a small in-test host that
// implements the runtime's ABI, and are checked against plain JavaScript, node:crypto and wc.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

// The slice of the WebAssembly JavaScript API used here, typed locally: the project's lib (ES2022,
// no DOM) does not declare it.
interface WasmModule {
  readonly __brand?: 'WasmModule';
}
interface WasmApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): { module: string; name: string; kind: string }[];
    exports(module: WasmModule): { name: string; kind: string }[];
  };
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const ROOT = join(__dirname, '..', '..');
const BUILD = join(ROOT, 'examples', 'compute', 'build');
const EXAMPLES = ['wordcount', 'sha256', 'grep'] as const;
const FIXTURES = ['loop', 'bomb', 'trap', 'forbidden', 'empty', 'abort', 'echo'] as const;
const PASTRY_IMPORTS = new Set(['input_size', 'input_read', 'arg_size', 'arg_read', 'output_write']);

/** env.abort was called: the unit ended with this message. */
class UnitAbort extends Error {}

interface HostOptions {
  arg?: Uint8Array;
  /** The most bytes one input_read/arg_read returns (the ABI allows short reads). */
  maxRead?: number;
}

/** Runs one entry point of a fresh instance, as the runtime would; returns the output. */
function runUnit(module: WasmModule, entry: 'run' | 'reduce', input: Uint8Array, options: HostOptions = {}): Buffer {
  const arg = options.arg ?? new Uint8Array(0);
  const maxRead = options.maxRead ?? Infinity;
  let memory: { buffer: ArrayBuffer } | undefined;
  const bytes = () => new Uint8Array(memory!.buffer);
  const output: Buffer[] = [];
  const reader = (source: Uint8Array) => (offset: number, ptr: number, len: number) => {
    const start = Math.min(offset >>> 0, source.length);
    const n = Math.min(len >>> 0, source.length - start, maxRead);
    bytes().set(source.subarray(start, start + n), ptr >>> 0);
    return n;
  };
  const instance = new Wasm.Instance(module, {
    pastry: {
      input_size: () => input.length,
      input_read: reader(input),
      arg_size: () => arg.length,
      arg_read: reader(arg),
      output_write: (ptr: number, len: number) => {
        output.push(Buffer.from(bytes().slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0))));
      },
    },
    env: {
      // An AssemblyScript string: UTF-16LE, its byte length a u32 just before it.
      abort: (message: number) => {
        const at = message >>> 0;
        const text = at === 0 ? '' : Buffer.from(bytes().slice(at, at + new DataView(memory!.buffer).getUint32(at - 4, true))).toString('utf16le');
        throw new UnitAbort(text);
      },
    },
  });
  memory = instance.exports.memory as { buffer: ArrayBuffer };
  (instance.exports[entry] as () => void)();
  return Buffer.concat(output);
}

/** The reduce input: every unit's output in order, each after its length (u32 LE). */
function reduceInput(outputs: Buffer[]): Buffer {
  return Buffer.concat(
    outputs.flatMap((o) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(o.length);
      return [len, o];
    }),
  );
}

/** A job: run() over each chunk, then reduce(). */
function runJob(module: WasmModule, chunks: Buffer[], options: HostOptions = {}): string {
  return runUnit(module, 'reduce', reduceInput(chunks.map((c) => runUnit(module, 'run', c, options))), options).toString('latin1');
}

/** mulberry32: a small seeded generator, so every run sees the same data. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

function jsWordCount(data: Uint8Array): number {
  let words = 0;
  for (let i = 0; i < data.length; i++) if (!isSpace(data[i]) && (i === 0 || isSpace(data[i - 1]))) words++;
  return words;
}

/** Every position where `pattern` starts, overlaps included. */
function jsOccurrences(data: Uint8Array, pattern: Uint8Array): number {
  let found = 0;
  outer: for (let i = 0; i + pattern.length <= data.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (data[i + j] !== pattern[j]) continue outer;
    found++;
  }
  return found;
}

/** Splits `data` at the given cut points (deduplicated, sorted; empty chunks never occur). */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < data.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, data.length]) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  return chunks;
}

let modules: Record<string, WasmModule>;
let files: Record<string, Buffer>;

beforeAll(() => {
  // Make-like: compiles what is missing or stale, and is instant otherwise.
  execFileSync('bash', [join(ROOT, 'examples', 'compute', 'build.sh')], { stdio: 'pipe', timeout: 280_000 });
  files = {};
  modules = {};
  for (const name of EXAMPLES) files[name] = readFileSync(join(BUILD, `${name}.wasm`));
  for (const name of FIXTURES) files[`fixtures/${name}`] = readFileSync(join(BUILD, 'fixtures', `${name}.wasm`));
  for (const [name, bytes] of Object.entries(files)) modules[name] = new Wasm.Module(bytes);
}, 300_000);

describe('module interfaces', () => {
  it('the examples import only from "pastry" (and env.abort) and export run and memory', () => {
    for (const name of EXAMPLES) {
      const imports = Wasm.Module.imports(modules[name]);
      for (const i of imports) {
        const allowed = (i.module === 'pastry' && PASTRY_IMPORTS.has(i.name)) || (i.module === 'env' && i.name === 'abort');
        expect({ module: name, import: `${i.module}.${i.name}`, allowed, kind: i.kind }).toEqual({ module: name, import: `${i.module}.${i.name}`, allowed: true, kind: 'function' });
      }
      expect(imports.some((i) => i.name === 'output_write')).toBe(true);
      const exports = new Map(Wasm.Module.exports(modules[name]).map((e) => [e.name, e.kind]));
      expect(exports.get('run')).toBe('function');
      expect(exports.get('memory')).toBe('memory');
      expect(exports.get('reduce')).toBe(name === 'sha256' ? undefined : 'function');
    }
  });

  it('the fixtures import what they should and export run and memory', () => {
    const importsOf = (name: string) => Wasm.Module.imports(modules[`fixtures/${name}`]).map((i) => `${i.module}.${i.name}`);
    expect(importsOf('loop')).toEqual([]);
    expect(importsOf('trap')).toEqual([]);
    expect(importsOf('empty')).toEqual([]);
    expect(importsOf('abort')).toEqual(['env.abort']);
    expect(importsOf('bomb').every((i) => i === 'env.abort')).toBe(true);
    expect(importsOf('echo').sort()).toEqual(['pastry.input_read', 'pastry.output_write']);
    const forbidden = importsOf('forbidden');
    expect(forbidden).toContain('wasi_snapshot_preview1.fd_write');
    expect(forbidden.filter((i) => !i.startsWith('pastry.') && i !== 'env.abort').length).toBeGreaterThan(0);
    for (const name of FIXTURES) {
      const exports = new Map(Wasm.Module.exports(modules[`fixtures/${name}`]).map((e) => [e.name, e.kind]));
      expect([name, exports.get('run'), exports.get('memory')]).toEqual([name, 'function', 'memory']);
    }
  });
});

describe('wordcount', () => {
  // Printable ASCII and whitespace only: GNU wc in the C locale (coreutils 9.1 at least) ignores
  // non-printable bytes rather than counting them as word bytes, which the example's
  // definition (any non-space byte) does.
  function text(seed: number, size: number): { data: Buffer; cuts: number[] } {
    const next = rng(seed);
    const spaces = [0x20, 0x20, 0x20, 0x09, 0x0a, 0x0a, 0x0b, 0x0c, 0x0d];
    const bytes: number[] = [];
    const cuts: number[] = [];
    while (bytes.length < size) {
      const kind = next(100);
      if (kind < 3) {
        // A long word, longer than many chunks: it spans several boundaries.
        const len = 300 + next(3000);
        for (let i = 0; i < len; i++) bytes.push(0x21 + next(94));
      } else if (kind < 6) {
        // A long run of whitespace, cut twice inside so one chunk is all whitespace.
        const start = bytes.length;
        const len = 40 + next(200);
        for (let i = 0; i < len; i++) bytes.push(spaces[next(spaces.length)]);
        cuts.push(start + 5 + next(10), start + len - 5 - next(10));
      } else {
        const len = 1 + next(12);
        const start = bytes.length;
        for (let i = 0; i < len; i++) bytes.push(0x21 + next(94));
        if (len > 1 && next(10) === 0) cuts.push(start + 1 + next(len - 1)); // inside the word
        const gap = 1 + next(3);
        for (let i = 0; i < gap; i++) bytes.push(spaces[next(spaces.length)]);
      }
    }
    // Arbitrary byte boundaries besides: chunks of 1 byte to a few KiB.
    for (let at = 0; at < bytes.length; at += 1 + next(next(4) === 0 ? 8 : 6000)) cuts.push(at);
    return { data: Buffer.from(bytes), cuts };
  }

  function wc(data: Buffer): number {
    const dir = mkdtempSync(join(tmpdir(), 'pastry-wc-'));
    try {
      const file = join(dir, 'input.txt');
      writeFileSync(file, data);
      const result = spawnSync('wc', ['-w', file], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
      expect(result.status).toBe(0);
      return Number(result.stdout.trim().split(/\s+/)[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('counts words across arbitrary chunk boundaries like wc -w', () => {
    for (const seed of [1, 2, 3]) {
      const { data, cuts } = text(seed, 150_000 + seed * 20_000);
      const chunks = split(data, cuts);
      // The data covers the hard cases: words cut by a boundary, chunks of only whitespace.
      let splitWords = 0;
      let offset = 0;
      for (const c of chunks.slice(0, -1)) {
        offset += c.length;
        if (!isSpace(data[offset - 1]) && !isSpace(data[offset])) splitWords++;
      }
      expect(splitWords).toBeGreaterThan(10);
      expect(chunks.filter((c) => c.every(isSpace)).length).toBeGreaterThan(5);
      expect(chunks.filter((c) => c.length > 1 && !c.some(isSpace)).length).toBeGreaterThan(0); // inside a long word

      const expected = jsWordCount(data);
      expect(expected).toBe(wc(data));
      expect(runJob(modules.wordcount, chunks)).toBe(String(expected));
      // Short reads from the host change nothing.
      expect(runJob(modules.wordcount, chunks, { maxRead: 777 })).toBe(String(expected));
      // Nor does one unit for everything.
      expect(runJob(modules.wordcount, [data])).toBe(String(expected));
    }
  });

  it('reports a unit: its count, whether it starts and ends in a word', () => {
    const unit = (s: string) => {
      const out = runUnit(modules.wordcount, 'run', Buffer.from(s, 'latin1'));
      return [out.length, out.readUInt32LE(0), out[4], out[5]];
    };
    expect(unit('')).toEqual([6, 0, 0, 0]);
    expect(unit(' \t\n\v\f\r')).toEqual([6, 0, 0, 0]);
    expect(unit('x')).toEqual([6, 1, 1, 1]);
    expect(unit('ab cd\tef')).toEqual([6, 3, 1, 1]);
    expect(unit(' ab cd ')).toEqual([6, 2, 0, 0]);
    expect(runUnit(modules.wordcount, 'reduce', reduceInput([]))).toEqual(Buffer.from('0'));
  });

  it('sums in 64 bits', () => {
    // Three units of 2^32 - 1 words each; the first two share a word across their boundary.
    const unit = (startsInWord: number, endsInWord: number) => Buffer.from([0xff, 0xff, 0xff, 0xff, startsInWord, endsInWord]);
    const total = 3n * 0xffffffffn - 1n;
    expect(runUnit(modules.wordcount, 'reduce', reduceInput([unit(0, 1), unit(1, 0), unit(1, 1)])).toString()).toBe(total.toString());
  });
});

describe('sha256', () => {
  it('hashes like node:crypto', () => {
    const next = rng(42);
    const random = (n: number) => Buffer.from(Array.from({ length: n }, () => next(256)));
    const inputs = [0, 1, 55, 56, 63, 64, 65, 119, 120, 100 * 1024, 200_003].map(random);
    inputs.push(Buffer.from('abc'), Buffer.alloc(64 * 1024, 0x61));
    for (const input of inputs) {
      const expected = createHash('sha256').update(input).digest('hex') + '\n';
      expect([input.length, runUnit(modules.sha256, 'run', input).toString('latin1')]).toEqual([input.length, expected]);
    }
    const long = inputs[10];
    expect(runUnit(modules.sha256, 'run', long, { maxRead: 1000 }).toString('latin1')).toBe(createHash('sha256').update(long).digest('hex') + '\n');
  });
});

describe('grep', () => {
  function haystack(seed: number, size: number, pattern: Buffer): { data: Buffer; cuts: number[] } {
    const next = rng(seed);
    const alphabet = [...new Set(pattern)];
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = next(3) === 0 ? next(256) : alphabet[next(alphabet.length)];
    // Plant the pattern, sometimes twice overlapping, and put chunk boundaries through it.
    const cuts: number[] = [];
    for (let n = 0; n < size / 500; n++) {
      const at = next(size - 2 * pattern.length);
      pattern.copy(data, at);
      if (next(2) === 0) pattern.copy(data, at + 1 + next(pattern.length));
      if (pattern.length > 1) cuts.push(at + 1 + next(pattern.length - 1));
    }
    // Arbitrary boundaries besides, no chunk shorter than the pattern (the example's assumption).
    for (let at = 0; at < size; at += pattern.length + next(3000)) cuts.push(at);
    const kept = [...new Set(cuts)].sort((a, b) => a - b).filter((c, i, all) => c >= pattern.length && c <= size - pattern.length && (i === 0 || c - all[i - 1] >= pattern.length));
    return { data, cuts: kept };
  }

  it('counts every occurrence, overlapping and across chunk boundaries', () => {
    const patterns = ['a', 'aa', 'abab', 'abaab', 'aaaaaaa', 'needle-in-haystack'].map((p) => Buffer.from(p)).concat([Buffer.from([0, 255, 0])]);
    patterns.forEach((pattern, n) => {
      const { data, cuts } = haystack(100 + n, 120_000, pattern);
      const chunks = split(data, cuts);
      expect(Math.min(...chunks.map((c) => c.length))).toBeGreaterThanOrEqual(pattern.length);
      // Occurrences cut by a boundary exist for every pattern longer than one byte.
      let across = 0;
      let offset = 0;
      for (const c of chunks.slice(0, -1)) {
        offset += c.length;
        across += jsOccurrences(data.subarray(offset - pattern.length + 1, offset + pattern.length - 1), pattern);
      }
      if (pattern.length > 1) expect(across).toBeGreaterThan(10);

      const expected = jsOccurrences(data, pattern);
      expect(expected).toBeGreaterThan(100);
      expect([pattern.toString('latin1'), runJob(modules.grep, chunks, { arg: pattern })]).toEqual([pattern.toString('latin1'), String(expected)]);
      expect(runJob(modules.grep, [data], { arg: pattern })).toBe(String(expected));
    });
  });

  it('outputs the count, k and the first and last k bytes of a unit', () => {
    const out = runUnit(modules.grep, 'run', Buffer.from('abababXYZab'), { arg: Buffer.from('aba') });
    expect(out.readUInt32LE(0)).toBe(2);
    expect(out.readUInt32LE(4)).toBe(2);
    expect(out.subarray(8).toString()).toBe('abab');
    // k is capped by a short input.
    const short = runUnit(modules.grep, 'run', Buffer.from('x'), { arg: Buffer.from('abc') });
    expect([short.readUInt32LE(0), short.readUInt32LE(4), short.subarray(8).toString()]).toEqual([0, 1, 'xx']);
  });

  it('aborts without a pattern', () => {
    expect(() => runUnit(modules.grep, 'run', Buffer.from('some input'))).toThrow(new UnitAbort('grep needs a pattern'));
    expect(() => runUnit(modules.grep, 'reduce', reduceInput([]))).toThrow(new UnitAbort('grep needs a pattern'));
  });
});

describe('fixtures', () => {
  it('echo copies its input, empty outputs nothing', () => {
    const next = rng(7);
    const input = Buffer.from(Array.from({ length: 150_000 }, () => next(256)));
    expect(runUnit(modules['fixtures/echo'], 'run', input).equals(input)).toBe(true);
    expect(runUnit(modules['fixtures/echo'], 'run', input, { maxRead: 999 }).equals(input)).toBe(true);
    expect(runUnit(modules['fixtures/empty'], 'run', input).length).toBe(0);
  });

  it('trap traps, abort aborts with its message', () => {
    expect(() => runUnit(modules['fixtures/trap'], 'run', Buffer.alloc(0))).toThrow(/unreachable/);
    expect(() => runUnit(modules['fixtures/abort'], 'run', Buffer.alloc(0))).toThrow(new UnitAbort('bad input'));
  });

  it('loop does not return', async () => {
    // In a worker, which can be stopped mid-loop.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const instance = new WebAssembly.Instance(new WebAssembly.Module(workerData));
       parentPort.postMessage('started');
       instance.exports.run();
       parentPort.postMessage('returned');`,
      { eval: true, workerData: files['fixtures/loop'] },
    );
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await worker.terminate();
    expect(messages).toEqual(['started']);
  });
});

/**
 * The node's entry point. It loads the node from its bundle (node.bundle.js beside this file,
 * made by `make build`) through V8's code cache, so that a node process skips module
 * resolution and, from its second start on a machine, most parsing and compiling: the
 * processes of a ring all start at once on few cores, and start-up was most of the CPU a node
 * spent until ready. Without the bundle, or with one older than main.js (tsc ran after the
 * last `make build`), it loads main.js as before.
 *
 * PASTRY_COMPILE_CACHE_DIR: where the cache lives (default: pastry-compile-cache-<uid> in the
 * system's temporary directory), a directory only this user may write to, or it is not used;
 * `off` turns the cache off.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

/** Time for the start-up code to run (and be compiled) before the cache is written. */
const SAVE_AFTER_MS = 5_000;

const bundle = path.join(__dirname, 'node.bundle.js');

/** Cache files of other builds not written for this long are removed when a new one is written. */
const STALE_MS = 7 * 24 * 3600 * 1000;

function cacheDir(): string | undefined {
  const configured = process.env.PASTRY_COMPILE_CACHE_DIR;
  if (configured === 'off') return undefined;
  return configured || path.join(os.tmpdir(), `pastry-compile-cache-${process.getuid?.() ?? 'user'}`);
}

/**
 * Whether `dir` may hold code this process runs: a directory of this user that nobody else can
 * write to. Compiled code from a directory another user controls would run as this node.
 */
function trusted(dir: string): boolean {
  try {
    const stat = lstatSync(dir);
    const uid = process.getuid?.();
    return stat.isDirectory() && (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** The cache file's bytes, when there is one this process may trust. */
function readCache(dir: string, file: string): Buffer | undefined {
  if (!trusted(dir)) return undefined;
  try {
    const uid = process.getuid?.();
    if (uid !== undefined && lstatSync(file).uid !== uid) return undefined;
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the code compiled so far; another process writing the same file at once is harmless. */
function save(script: vm.Script, dir: string, file: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(dir)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
    const now = Date.now();
    for (const name of readdirSync(dir)) {
      const other = path.join(dir, name);
      if (other !== file && name.endsWith('.bin') && now - statSync(other).mtimeMs > STALE_MS) rmSync(other, { force: true });
    }
  } catch {
    // A read-only or full disk: the next start compiles again, nothing else changes.
  }
}

/**
 * The bundle's source and a name for its build, unless there is none or it is older than
 * main.js (tsc ran since). The name comes from the file's identity, not its bytes (hashing 2 MB
 * would cost a start more than the cache saves): V8 checks a cache against the source's
 * length only, and a rebuild gives the file a new modification time.
 */
function bundleSource(): { source: string; build: string } | undefined {
  try {
    const stat = statSync(bundle);
    if (stat.mtimeMs < statSync(path.join(__dirname, 'main.js')).mtimeMs) return undefined;
    // ASCII (bundle.mjs checks): Latin-1 reads it exactly, and faster than UTF-8.
    const source = readFileSync(bundle, 'latin1');
    const build = createHash('sha256').update(`${process.version} ${process.arch} ${stat.size} ${stat.mtimeMs} ${stat.ino}`).digest('hex').slice(0, 32);
    return { source, build };
  } catch {
    return undefined;
  }
}

function start(): void {
  const found = bundleSource();
  if (found === undefined) {
    require('./main');
    return;
  }
  let { source } = found;
  // A script in a function wrapper cannot start with main.js's hashbang: a comment keeps the lines.
  if (source.startsWith('#!')) source = `//${source.slice(2)}`;
  const dir = cacheDir();
  const file = dir ? path.join(dir, `${found.build}.bin`) : undefined;
  const cachedData = dir && file ? readCache(dir, file) : undefined;
  // No dynamic import() in the bundle (bundle.mjs checks): a script from a code cache loses
  // its import callback on Node 20.
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  if (dir && file && (!cachedData || script.cachedDataRejected)) setTimeout(() => save(script, dir, file), SAVE_AFTER_MS).unref();
  const bundleModule = new Module(bundle, module);
  bundleModule.filename = bundle;
  const run = script.runInThisContext({ displayErrors: true }) as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  run.call(bundleModule.exports, bundleModule.exports, createRequire(bundle), bundleModule, bundle, __dirname);
}

start();

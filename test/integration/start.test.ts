import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PastryClient } from '../../services/cli/src/client';
import { startRing, type TestRing } from '../helpers/local-ring';

jest.setTimeout(120_000);

const BUNDLE = path.resolve(__dirname, '../../dist/services/node/src/node.bundle.js');
const MAIN = path.resolve(__dirname, '../../dist/services/node/src/main.js');

/** The cache files in `dir`, with their modification times. */
function cacheFiles(dir: string): Map<string, number> {
  try {
    return new Map(readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).mtimeMs]));
  } catch {
    return new Map();
  }
}

async function waitFor<T>(check: () => T, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the node's entry point (start.js)", () => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'pastry-compile-cache-test-'));
  let ring: TestRing | undefined;

  afterEach(async () => {
    await ring?.down();
    ring = undefined;
  });

  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  it('runs the node from its bundle, writes the code cache once, and a second start reuses it', async () => {
    // make build made the bundle after main.js: start.js takes it.
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThanOrEqual(statSync(MAIN).mtimeMs);
    ring = await startRing(2, '127.0.71', { PASTRY_COMPILE_CACHE_DIR: cache });
    const client = new PastryClient(ring.state().pods[1]!.address, 10_000);
    try {
      const put = await client.put('start-test', Buffer.from('from the bundle'));
      expect((await client.get(put.guid.toString('hex'))).value.toString()).toBe('from the bundle');
    } finally {
      client.close();
    }
    // Written a few seconds after the start, by each process that found no cache: one file, by content.
    const written = await waitFor(() => cacheFiles(cache), (m) => m.size > 0 && [...m.keys()].every((f) => f.endsWith('.bin')), 20_000);
    expect([...written.keys()]).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1_000));
    const first = cacheFiles(cache);
    await ring.down();
    ring = undefined;

    // A second ring finds the cache valid: V8 accepts it, so nobody writes it again. Its
    // nodes export traces over OTLP/HTTP, whose exporter loads node:http with import(): code
    // run from a cache must still be able to (the exporter stays outside the bundle for that).
    const posts: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts.push(req.url ?? '');
        res.setHeader('content-type', 'application/json');
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.71.200', resolve));
    try {
      const { port } = receiver.address() as AddressInfo;
      ring = await startRing(2, '127.0.71', {
        PASTRY_COMPILE_CACHE_DIR: cache,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.71.200:${port}`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      });
      const client2 = new PastryClient(ring.state().pods[0]!.address, 10_000);
      try {
        expect((await client2.route('0'.repeat(32))).root).toBeDefined();
      } finally {
        client2.close();
      }
      expect(await waitFor(() => posts.length, (n) => n > 0, 10_000)).toBeGreaterThan(0);
      expect(posts[0]).toBe('/v1/traces');
      await new Promise((r) => setTimeout(r, 6_000));
      expect(cacheFiles(cache)).toEqual(first);
    } finally {
      receiver.close();
    }
  });

  it('does not use a cache directory other users may write to: code from there would run as the node', async () => {
    const shared = mkdtempSync(path.join(os.tmpdir(), 'pastry-compile-cache-shared-'));
    try {
      chmodSync(shared, 0o777);
      ring = await startRing(1, '127.0.71', { PASTRY_COMPILE_CACHE_DIR: shared });
      await new Promise((r) => setTimeout(r, 6_500));
      expect(readdirSync(shared)).toEqual([]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('runs without a cache when PASTRY_COMPILE_CACHE_DIR is off', async () => {
    const off = mkdtempSync(path.join(os.tmpdir(), 'pastry-compile-cache-off-'));
    try {
      ring = await startRing(1, '127.0.71', { PASTRY_COMPILE_CACHE_DIR: 'off', TMPDIR: off });
      await new Promise((r) => setTimeout(r, 6_500));
      expect(readdirSync(off)).toEqual([]);
    } finally {
      rmSync(off, { recursive: true, force: true });
    }
  });
});

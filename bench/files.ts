/**
 * File sharing on a local ring (`make bench-files`, part of `make bench`): upload and
 * download of one big file through the CLI beside the machine's floor (`cat` of the file, one
 * bare gRPC server-streaming transfer of the same bytes), the memory of every process during
 * it, and N pods downloading one file at the same moment beside one download alone, with the
 * share of bytes the chunks' replicas served.
 *
 *   node dist/bench/files.js [--mib 1024] [--swarm-mib 256] [--nodes 16] [--storage memory|redis]
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { rssBytesOf } from './proc';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { clusterDown, clusterUp, type ClusterOptions } from '../services/cli/src/cluster';
import { FilesClient, FilesService, type DownloadResponse } from '../services/node/src/gen/pastry/v1/files';
import { flag } from './args';

const CLI = path.resolve(__dirname, '../services/cli/src/main.js');


/** Samples the RSS of `pids` every 100 ms; the peak growth over each one's start. */
function watchMemory(pids: () => number[]): () => number {
  const base = new Map<number, number>();
  let peak = 0;
  const timer = setInterval(() => {
    for (const pid of pids()) {
      const now = rssBytesOf(pid, 0);
      if (now === 0) continue;
      if (!base.has(pid)) base.set(pid, now);
      peak = Math.max(peak, now - base.get(pid)!);
    }
  }, 100);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

interface Run {
  seconds: number;
  stdout: string;
  /** Peak RSS growth of the CLI process. */
  cliPeakBytes: number;
}

function cli(args: string[], runDir: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, ...args, '--run-dir', runDir], { env: { ...process.env, PASTRY_LOG_LEVEL: 'warn' } });
    const stop = watchMemory(() => (child.pid ? [child.pid] : []));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => {
      const cliPeakBytes = stop();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdout, cliPeakBytes });
      else reject(new Error(`pastry ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

function sh(command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    execFile('bash', ['-c', command], (error) => (error ? reject(error) : resolve(Number(process.hrtime.bigint() - started) / 1e9)));
  });
}

/** One bare grpc-js server-streaming transfer of the file's bytes in 256 KiB messages: the transport's floor. */
async function grpcFloor(file: string): Promise<number> {
  const server = new Server({ 'grpc.max_send_message_length': 16 << 20 });
  const fd = openSync(file, 'r');
  server.addService(FilesService, {
    upload: () => undefined,
    stat: () => undefined,
    remove: () => undefined,
    download: async (call: ServerWritableStream<unknown, DownloadResponse>) => {
      const block = 256 * 1024;
      for (let offset = 0; ; offset += block) {
        const data = Buffer.alloc(block);
        const n = (await import('node:fs')).readSync(fd, data, 0, block, offset);
        if (n === 0) break;
        if (!call.write({ offset, data: data.subarray(0, n), size: 0, chunkHash: Buffer.alloc(0) })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new FilesClient(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
  const started = process.hrtime.bigint();
  let bytes = 0;
  for await (const piece of client.download({ guid: Buffer.alloc(16), offset: 0, length: 0 }) as AsyncIterable<DownloadResponse>) bytes += piece.data.length;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  server.forceShutdown();
  closeSync(fd);
  if (bytes === 0) throw new Error('the floor transfer moved nothing');
  return seconds;
}

/** pastry_file_fetched_bytes_total by source, summed over the pods. */
async function fetchedBySource(addresses: string[], metricsPort: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const a of addresses) {
    const host = a.split(':')[0];
    const text = await (await fetch(`http://${host}:${metricsPort}/metrics`)).text();
    for (const m of text.matchAll(/^pastry_file_fetched_bytes_total\{source="(\w+)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

function makeFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const block = randomBytes(8 << 20);
  for (let written = 0; written < bytes; ) {
    const n = Math.min(block.length, bytes - written);
    // Every block differs, so no two chunks are alike.
    block.writeUInt32LE(written / block.length, 0);
    writeSync(fd, block, 0, n);
    written += n;
  }
  closeSync(fd);
}

function digest(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    require('node:fs').createReadStream(file).on('data', (b: Buffer) => h.update(b)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

/** kubo's ipfs binary, if installed (make bench-files builds it; see bench/README.md). */
function findIpfs(): string | undefined {
  const gopath = process.env.GOPATH ?? path.join(process.env.HOME ?? '/root', 'go');
  for (const candidate of [process.env.IPFS_BIN, path.join(gopath, 'bin', 'ipfs')]) if (candidate && existsSync(candidate)) return candidate;
  return undefined;
}

/**
 * Two kubo daemons on loopback with their own repos and nothing that reaches off the machine
 * (no bootstrap peers, no routing, no autoconf, no telemetry, no mDNS): `ipfs add` on one,
 * `ipfs cat` from the other, connected directly.
 */
async function kubo(ipfs: string, work: string, file: string, size: number): Promise<{ add: number; cat: number; daemonPeak: number }> {
  const daemons: ReturnType<typeof spawn>[] = [];
  const env = (i: number): NodeJS.ProcessEnv => ({ ...process.env, IPFS_PATH: path.join(work, `kubo-${i}`), IPFS_TELEMETRY: 'off' });
  const run = (i: number, args: string[]): Promise<string> =>
    new Promise((resolve, reject) => execFile(ipfs, args, { env: env(i), maxBuffer: 16 << 20 }, (e, out, err) => (e ? reject(new Error(`ipfs ${args.join(' ')}: ${err}`)) : resolve(out.trim()))));
  try {
    for (let i = 0; i < 2; i++) {
      await run(i, ['init', '--profile', 'test', '-e']);
      const settings: [string, string][] = [
        ['Addresses.API', `"/ip4/127.0.0.1/tcp/${5301 + i}"`],
        ['Addresses.Gateway', `"/ip4/127.0.0.1/tcp/${8301 + i}"`],
        ['Addresses.Swarm', `["/ip4/127.0.0.1/tcp/${4301 + i}"]`],
        ['Bootstrap', '[]'],
        ['Routing.Type', '"none"'],
        ['AutoConf.Enabled', 'false'],
        ['Discovery.MDNS.Enabled', 'false'],
        ['Plugins.Plugins.telemetry.Config', '{"Mode":"off"}'],
      ];
      for (const [key, value] of settings) await run(i, ['config', '--json', key, value]);
      const d = spawn(ipfs, ['daemon'], { env: env(i), stdio: ['ignore', 'pipe', 'pipe'] });
      daemons.push(d);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('a kubo daemon did not start in 60 s')), 60_000);
        d.stdout!.on('data', (b: Buffer) => {
          if (b.toString().includes('Daemon is ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        d.on('exit', (code) => reject(new Error(`a kubo daemon exited ${code}`)));
      });
    }
    const stop = watchMemory(() => daemons.map((d) => d.pid ?? 0));
    const id0 = JSON.parse(await run(0, ['id'])).ID as string;
    await run(1, ['swarm', 'connect', `/ip4/127.0.0.1/tcp/4301/p2p/${id0}`]);
    let t = process.hrtime.bigint();
    const cid = await run(0, ['add', '-Q', '--chunker=size-262144', file]);
    const add = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    const cat = await sh(`IPFS_PATH=${path.join(work, 'kubo-1')} IPFS_TELEMETRY=off ${ipfs} cat ${cid} | wc -c | grep -qx ${size}`);
    void t;
    return { add, cat, daemonPeak: stop() };
  } finally {
    for (const d of daemons) d.kill('SIGKILL');
  }
}

function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(path.join(dir, tool))) return path.join(dir, tool);
  return undefined;
}

/**
 * A BitTorrent swarm on loopback: Debian's opentracker on 127.0.0.1:6969, one aria2c seeder
 * and `n` aria2c leechers started at once, every one bound to 127.0.0.1 with DHT, local peer
 * discovery and peer exchange off. Leechers keep seeding until the last one completes, as
 * pods stay up. Resolves with the seconds until every leecher has the whole file.
 */
async function bittorrent(work: string, file: string, size: number, n: number): Promise<number> {
  const dir = path.join(work, 'bt');
  const { mkdirSync, statSync, linkSync } = await import('node:fs');
  mkdirSync(path.join(dir, 'seed'), { recursive: true });
  linkSync(file, path.join(dir, 'seed', path.basename(file)));
  const torrent = path.join(dir, 'file.torrent');
  await sh(`mktorrent -a http://127.0.0.1:6969/announce -l 18 -o ${torrent} ${file} >/dev/null`);
  const procs: ReturnType<typeof spawn>[] = [];
  const aria = (d: string, port: number, extra: string[]): void => {
    mkdirSync(d, { recursive: true });
    procs.push(
      spawn('aria2c', [
        `--dir=${d}`, '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false', '--disable-ipv6=true',
        `--listen-port=${port}`, '--interface=127.0.0.1', '--seed-ratio=0.0', '--summary-interval=0', '--console-log-level=error', '--file-allocation=none',
        '--bt-max-peers=0', '--max-overall-upload-limit=0', '--bt-tracker-interval=1', ...extra, torrent,
      ], { stdio: 'ignore' }),
    );
  };
  try {
    // Debian's opentracker serves only whitelisted torrents; it chroots to -d, so the list's path is inside it.
    const infoHash = await new Promise<string>((resolve, reject) =>
      execFile('aria2c', ['-S', torrent], (e, out) => {
        const m = /Info Hash: ([0-9a-f]{40})/.exec(out);
        return e || !m ? reject(new Error(`aria2c -S ${torrent}: no info hash`)) : resolve(m[1]!);
      }),
    );
    writeFileSync(path.join(dir, 'whitelist'), `${infoHash}\n`);
    procs.push(spawn('opentracker', ['-i', '127.0.0.1', '-p', '6969', '-P', '6969', '-d', dir, '-w', '/whitelist'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 500));
    aria(path.join(dir, 'seed'), 16880, ['--check-integrity=true', '--bt-seed-unverified=true']);
    await new Promise((r) => setTimeout(r, 1000));
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) aria(path.join(dir, `leech-${i}`), 16881 + i, []);
    const done = (i: number): boolean => {
      const f = path.join(dir, `leech-${i}`, path.basename(file));
      return existsSync(f) && statSync(f).size === size && !existsSync(`${f}.aria2`);
    };
    const until = Date.now() + 300_000;
    while (!Array.from({ length: n }, (_, i) => done(i)).every(Boolean)) {
      if (Date.now() > until) throw new Error('the BitTorrent swarm did not complete in 300 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const want = await digest(file);
    for (let i = 0; i < n; i++) if ((await digest(path.join(dir, `leech-${i}`, path.basename(file)))) !== want) throw new Error(`BitTorrent leecher ${i} has other bytes`);
    return seconds;
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (bytes: number, seconds: number): string => `${(bytes / seconds / (1 << 20)).toFixed(1)} MiB/s`;

async function main(): Promise<void> {
  const size = Number(flag('mib', '1024')) * (1 << 20);
  const swarmSize = Number(flag('swarm-mib', '256')) * (1 << 20);
  const nodes = Number(flag('nodes', '16'));
  const storage = flag('storage', 'memory');
  const work = mkdtempSync(path.join(tmpdir(), 'pastry-bench-files-'));
  const runDir = path.join(work, 'ring');
  const metricsPort = 9800;
  const options: ClusterOptions = { runDir, port: 7000, metricsPort, storage, subnet: '127.0.43' };
  const file = path.join(work, 'file.bin');
  const swarmFile = path.join(work, 'swarm.bin');
  let state: Awaited<ReturnType<typeof clusterUp>> | undefined;
  const stopAll = async (): Promise<void> => {
    await clusterDown(runDir, 5000).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    makeFile(file, size);
    makeFile(swarmFile, swarmSize);
    state = await clusterUp(nodes, options, 120_000, { ...process.env, PASTRY_LOG_LEVEL: 'warn' });
    const pods = state.pods.map((p) => p.address);
    const nodePeak = (): (() => number) => watchMemory(() => state!.pods.map((p) => p.pid));
    // Only what is measured runs: the ring (its idle maintenance) is frozen meanwhile.
    const frozen = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (const p of state!.pods) process.kill(p.pid, 'SIGSTOP');
      try {
        return await fn();
      } finally {
        for (const p of state!.pods) process.kill(p.pid, 'SIGCONT');
        await new Promise((r) => setTimeout(r, 2000));
      }
    };
    const cat = await frozen(() => sh(`cat ${file} > /dev/null`));
    const floor = await frozen(() => grpcFloor(file));
    let stopNodes = nodePeak();
    const put = await cli(['file', 'put', file, '--json', '--target', pods[0]!], runDir);
    const putNodePeak = stopNodes();
    const guid = JSON.parse(put.stdout).guid as string;
    const out = path.join(work, 'out.bin');
    stopNodes = nodePeak();
    const get = await cli(['file', 'get', guid, '-o', out, '--target', pods[nodes - 1]!], runDir);
    const getNodePeak = stopNodes();
    if ((await digest(out)) !== (await digest(file))) throw new Error('the downloaded file differs');
    rmSync(out);

    // The swarm: one download alone, then one per pod at the same moment.
    const swarmGuid = JSON.parse((await cli(['file', 'put', swarmFile, '--json', '--target', pods[0]!], runDir)).stdout).guid as string;
    const alone = await cli(['file', 'get', swarmGuid, '-o', path.join(work, 'alone.bin'), '--target', pods[1]!], runDir);
    rmSync(path.join(work, 'alone.bin'));
    const before = await fetchedBySource(pods, metricsPort);
    const startedSwarm = process.hrtime.bigint();
    await Promise.all(pods.map((p, i) => cli(['file', 'get', swarmGuid, '-o', path.join(work, `swarm-${i}.bin`), '--target', p], runDir)));
    const swarmSeconds = Number(process.hrtime.bigint() - startedSwarm) / 1e9;
    const after = await fetchedBySource(pods, metricsPort);
    const delta = (s: string): number => (after[s] ?? 0) - (before[s] ?? 0);
    const fromReplicas = delta('replica') + delta('local') + delta('routed');
    const fromSwarm = delta('provider') + delta('cache');
    const want = await digest(swarmFile);
    for (let i = 0; i < pods.length; i++) if ((await digest(path.join(work, `swarm-${i}.bin`))) !== want) throw new Error(`swarm download ${i} differs`);

    const ipfs = findIpfs();
    const k = ipfs ? await frozen(() => kubo(ipfs, work, file, size)) : undefined;
    const bt = which('aria2c') && which('opentracker') && which('mktorrent') ? await frozen(() => bittorrent(work, swarmFile, swarmSize, nodes)) : undefined;
    const rows: [string, string][] = [
      [`cat file > /dev/null (${size >> 20} MiB)`, `${cat.toFixed(2)} s  ${mib(size, cat)}`],
      ['one bare gRPC server stream of the same bytes (the floor)', `${floor.toFixed(2)} s  ${mib(size, floor)}`],
      ['pastry file put (CLI through one node)', `${put.seconds.toFixed(2)} s  ${mib(size, put.seconds)}  (${(put.seconds / floor).toFixed(1)}× the floor)`],
      ['pastry file get (CLI through another node)', `${get.seconds.toFixed(2)} s  ${mib(size, get.seconds)}  (${(get.seconds / floor).toFixed(1)}× the floor)`],
      ['peak RSS growth: CLI during put / get', `${(put.cliPeakBytes / 2 ** 20).toFixed(0)} MiB / ${(get.cliPeakBytes / 2 ** 20).toFixed(0)} MiB`],
      ['peak RSS growth: any node during put / get', `${(putNodePeak / 2 ** 20).toFixed(0)} MiB / ${(getNodePeak / 2 ** 20).toFixed(0)} MiB`],
      ...(k
        ? ([
            ['kubo 0.43.1: ipfs add on one daemon', `${k.add.toFixed(2)} s  ${mib(size, k.add)}  (ours: ${(k.add / put.seconds).toFixed(2)}× its speed)`],
            ['kubo 0.43.1: ipfs cat from another daemon', `${k.cat.toFixed(2)} s  ${mib(size, k.cat)}  (ours: ${(k.cat / get.seconds).toFixed(2)}× its speed)`],
            ['kubo: peak RSS growth of a daemon', `${(k.daemonPeak / 2 ** 20).toFixed(0)} MiB`],
          ] as [string, string][])
        : ([['kubo', 'not installed (bench/README.md says how)']] as [string, string][])),
      [`one download alone (${swarmSize >> 20} MiB)`, `${alone.seconds.toFixed(2)} s`],
      [`${nodes} downloads at once, one per pod`, `${swarmSeconds.toFixed(2)} s  (${(swarmSeconds / alone.seconds).toFixed(1)}× one alone; ${nodes}× would be ${(nodes * alone.seconds).toFixed(0)} s)`],
      ['  bytes served by the chunks\' replicas / by the swarm', `${((100 * fromReplicas) / (fromReplicas + fromSwarm)).toFixed(0)} % / ${((100 * fromSwarm) / (fromReplicas + fromSwarm)).toFixed(0)} %`],
      bt !== undefined
        ? [`BitTorrent: ${nodes} aria2c leechers at once, one seeder, opentracker`, `${bt.toFixed(2)} s  (ours: ${(swarmSeconds / bt).toFixed(1)}× its time)`]
        : ['BitTorrent', 'aria2, opentracker or mktorrent not installed (apt-get install aria2 opentracker mktorrent)'],
    ];
    console.log(`\nfile sharing: ${nodes} nodes, ${storage} store, k = 3, 256 KiB chunks\n`);
    const width = Math.max(...rows.map((r) => r[0].length));
    for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
  } finally {
    await stopAll();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

import { createReadStream, existsSync, openSync, closeSync, readSync, ftruncateSync, writeSync, fstatSync, statSync } from 'node:fs';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { idFromBytes, isId, type Id } from '../../node/src/core/id';
import { sha256 } from '../../node/src/dht/guid';
import { chunkLength, parseManifest, parsePage, pieceGuid, type Manifest } from '../../node/src/files/format';
import { FILES } from '../../node/src/constants';
import { FilesClient, type DownloadResponse, type FileStatResponse, type UploadResponse } from '../../node/src/gen/pastry/v1/files';
import { unaryCall } from '../../node/src/rpc/unary-call';
import { ClientError, clientError, nodeView, PastryClient } from './client';
import { UsageError, type Io } from './commands';
import { table } from './format';
import { formatBytes, Progress } from './progress';

export interface FileOptions {
  /** Nodes to use, first first; a failed transfer goes on through the next. */
  targets: string[];
  json: boolean;
  output?: string;
  chunkSize?: string;
  /** A transfer that receives nothing for this long is abandoned and resumed elsewhere. */
  idleTimeoutMs: number;
  /** Force the progress bar on or off (default: when stderr is a terminal). */
  progress?: boolean;
  err?: (text: string) => void;
}

/** Transfers tried (each from where the last one stopped) before a get or put gives up. */
const ATTEMPTS = 6;
/** Bytes per upload message. */
const UPLOAD_BLOCK = 256 * 1024;
/** Codes after which another attempt (through another node) can succeed. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.UNKNOWN, status.INTERNAL, status.RESOURCE_EXHAUSTED]);

const CHANNEL = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 };

export async function fileCommand(sub: string | undefined, args: string[], opts: FileOptions, io: Io): Promise<void> {
  switch (sub) {
    case 'put':
      return filePut(need(args[0], 'usage: pastry file put PATH'), opts, io);
    case 'get':
      return fileGet(guidArg(args[0], 'usage: pastry file get GUID -o PATH'), opts, io);
    case 'stat':
      return fileStat(guidArg(args[0], 'usage: pastry file stat GUID'), opts, io);
    case 'rm':
      return fileRemove(guidArg(args[0], 'usage: pastry file rm GUID'), opts, io);
    default:
      throw new UsageError('usage: pastry file put|get|stat|rm ... (see pastry --help)');
  }
}

function need(value: string | undefined, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(usage);
  return value;
}

function guidArg(value: string | undefined, usage: string): Id {
  const v = need(value, usage).toLowerCase();
  if (!isId(v)) throw new UsageError(`a file GUID is 32 hex digits, got ${JSON.stringify(value)}`);
  return v;
}

/** "256k", "1m" or bytes. */
export function parseSize(value: string): number {
  const m = /^(\d+)([km]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`--chunk-size needs bytes (e.g. 262144, 256k, 1m), got ${JSON.stringify(value)}`);
  return Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1024 : m[2]?.toLowerCase() === 'm' ? 1024 * 1024 : 1);
}

function retryable(error: unknown): boolean {
  const code = (error as { code?: number }).code;
  return typeof code === 'number' && RETRYABLE.has(code);
}

function report(opts: FileOptions, text: string): void {
  (opts.err ?? ((t: string) => process.stderr.write(t + '\n')))(text);
}

/** Uploads PATH; a failed upload starts over through the next node (its chunks are stored under a new salt). */
async function filePut(path: string, opts: FileOptions, io: Io): Promise<void> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${path}: no such file`);
  const size = statSync(path).size;
  const chunkSize = opts.chunkSize === undefined ? 0 : parseSize(opts.chunkSize);
  const started = Date.now();
  let res: UploadResponse | undefined;
  for (let attempt = 0; !res; attempt++) {
    const target = opts.targets[attempt % opts.targets.length]!;
    const progress = new Progress(`put ${path}`, size, process.stderr, opts.progress);
    try {
      res = await uploadOnce(target, path, chunkSize, progress);
      progress.finish();
    } catch (error) {
      progress.finish();
      if (attempt + 1 >= ATTEMPTS || !retryable(error)) throw error;
      report(opts, `pastry: upload through ${target} failed (${(error as Error).message}); starting over through ${opts.targets[(attempt + 1) % opts.targets.length]}`);
      await sleep(500 * 2 ** Math.min(attempt, 3));
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const guid = idFromBytes(res.guid);
  if (opts.json) io.out(JSON.stringify({ guid, size: Number(res.size), chunks: res.chunks, chunkSize: res.chunkSize, seconds, bytesPerSecond: Math.round(Number(res.size) / Math.max(seconds, 0.001)) }));
  else io.out(guid);
}

function uploadOnce(target: string, path: string, chunkSize: number, progress: Progress): Promise<UploadResponse> {
  const client = new FilesClient(target, credentials.createInsecure(), CHANNEL);
  return new Promise<UploadResponse>((resolve, reject) => {
    const call = client.upload((error, response) => {
      client.close();
      if (error) reject(clientError(target, error));
      else resolve(response);
    });
    const file = createReadStream(path, { highWaterMark: UPLOAD_BLOCK });
    let sent = 0;
    let first = true;
    file.on('data', (block) => {
      const data = block as Buffer;
      const more = call.write({ chunkSize: first ? chunkSize : 0, data });
      first = false;
      sent += data.length;
      progress.update(sent);
      if (!more) {
        file.pause();
        call.once('drain', () => file.resume());
      }
    });
    file.on('end', () => {
      if (first) call.write({ chunkSize, data: Buffer.alloc(0) });
      call.end();
    });
    file.on('error', (error) => {
      call.cancel();
      reject(error);
    });
  });
}

/** The manifest read with plain DHT Gets and checked against the GUID: every byte after it is verified here, not only by the node. */
async function loadManifest(target: string, guid: Id, timeoutMs: number): Promise<{ manifest: Manifest; hash(index: number): Promise<Buffer> }> {
  const dht = new PastryClient(target, timeoutMs);
  try {
    let value: Buffer;
    try {
      value = (await dht.get(guid)).value;
    } catch (error) {
      if ((error as ClientError).code === status.NOT_FOUND) throw new ClientError(`no file with GUID ${guid}`, status.NOT_FOUND);
      throw error;
    }
    const manifest = parseManifest(guid, Buffer.from(value));
    const pages = new Map<number, Buffer[]>();
    return {
      manifest,
      hash: async (index) => {
        if (manifest.pages.length === 0) return manifest.hashes[index]!;
        const page = Math.floor(index / FILES.hashesPerPage);
        let hashes = pages.get(page);
        if (!hashes) {
          const c = new PastryClient(target, timeoutMs);
          try {
            hashes = parsePage(manifest.pages[page]!, Buffer.from((await c.get(pieceGuid(manifest.salt, manifest.pages[page]!))).value));
          } finally {
            c.close();
          }
          pages.clear();
          pages.set(page, hashes);
        }
        return hashes[index % FILES.hashesPerPage]!;
      },
    };
  } finally {
    dht.close();
  }
}

/** How much of an existing PATH is already the file: its whole chunks that match, up to the first that does not. */
async function verifiedPrefix(fd: number, m: Manifest, hash: (i: number) => Promise<Buffer>): Promise<number> {
  const have = fstatSync(fd).size;
  const buffer = Buffer.alloc(m.chunkSize);
  let index = 0;
  for (; index < m.chunks; index++) {
    const length = chunkLength(m, index);
    const start = index * m.chunkSize;
    if (start + length > have) break;
    const read = readSync(fd, buffer, 0, length, start);
    if (read !== length || !sha256(buffer.subarray(0, length)).equals(await hash(index))) break;
  }
  return index * m.chunkSize;
}

/** Downloads a file to PATH (or stdout), verified chunk by chunk; resumes a partial PATH; fails over to the next node. */
async function fileGet(guid: Id, opts: FileOptions, io: Io): Promise<void> {
  const output = opts.output;
  if (output === undefined) throw new UsageError('usage: pastry file get GUID -o PATH (- for stdout)');
  const toStdout = output === '-';
  let loaded: Awaited<ReturnType<typeof loadManifest>> | undefined;
  for (let attempt = 0; !loaded; attempt++) {
    try {
      loaded = await loadManifest(opts.targets[attempt % opts.targets.length]!, guid, opts.idleTimeoutMs);
    } catch (error) {
      if (attempt + 1 >= Math.min(ATTEMPTS, opts.targets.length * 2) || !retryable(error)) throw error;
    }
  }
  const { manifest: m, hash } = loaded;
  const fd = toStdout ? -1 : openSync(output, existsSync(output) ? 'r+' : 'w');
  const started = Date.now();
  try {
    let offset = 0;
    if (!toStdout) {
      offset = Math.min(await verifiedPrefix(fd, m, hash), m.size);
      ftruncateSync(fd, offset);
      if (offset > 0) report(opts, `pastry: resuming ${output} at ${formatBytes(offset)} of ${formatBytes(m.size)} (verified)`);
    }
    const progress = new Progress(`get ${guid.slice(0, 8)}`, m.size, process.stderr, opts.progress);
    progress.update(offset);
    for (let attempt = 0; offset < m.size; attempt++) {
      const target = opts.targets[attempt % opts.targets.length]!;
      try {
        offset = await downloadOnce(target, guid, offset, opts.idleTimeoutMs, async (piece) => {
          if (piece.offset % m.chunkSize !== 0) throw new ClientError(`${target} sent bytes at ${piece.offset}, not at a chunk boundary`, status.DATA_LOSS);
          const index = piece.offset / m.chunkSize;
          if (piece.data.length !== chunkLength(m, index) || !sha256(piece.data).equals(await hash(index))) {
            throw new ClientError(`${target}: chunk ${index} failed verification`, status.DATA_LOSS);
          }
          if (toStdout) await writeStdout(Buffer.from(piece.data));
          else writeSync(fd, piece.data, 0, piece.data.length, piece.offset);
          progress.update(piece.offset + piece.data.length);
        });
      } catch (error) {
        offset = (error as { reached?: number }).reached ?? offset;
        if (attempt + 1 >= ATTEMPTS || !(retryable(error) || (error as ClientError).code === status.DATA_LOSS)) {
          progress.finish();
          if (!toStdout) throw new ClientError(`${(error as Error).message}; ${output} holds the first ${formatBytes(offset)} verified: run the same command again to resume`, (error as ClientError).code ?? 1);
          throw error;
        }
        report(opts, `pastry: download through ${target} stopped at ${formatBytes(offset)} (${(error as Error).message}); resuming through ${opts.targets[(attempt + 1) % opts.targets.length]}`);
        await sleep(300 * 2 ** Math.min(attempt, 3));
      }
    }
    progress.finish();
    // process.exit would cut off what a pipe has not taken yet.
    if (toStdout) await writeStdout(Buffer.alloc(0));
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (opts.json && !toStdout) {
    const seconds = (Date.now() - started) / 1000;
    io.out(JSON.stringify({ guid, path: output, size: m.size, chunks: m.chunks, seconds, bytesPerSecond: Math.round(m.size / Math.max(seconds, 0.001)) }));
  }
}

/** One Download call from `offset`; resolves with the offset reached (the end, unless the stream broke). */
function downloadOnce(target: string, guid: Id, offset: number, idleTimeoutMs: number, onPiece: (p: DownloadResponse & { offset: number }) => Promise<void>): Promise<number> {
  const client = new FilesClient(target, credentials.createInsecure(), CHANNEL);
  const call = client.download({ guid: Buffer.from(guid, 'hex'), offset, length: 0 });
  let reached = offset;
  let idle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => call.cancel(), idleTimeoutMs);
  };
  return (async () => {
    try {
      arm();
      for await (const piece of call as AsyncIterable<DownloadResponse>) {
        arm();
        const at = Number(piece.offset);
        if (at !== reached) throw new ClientError(`${target} sent bytes at ${at}, expected ${reached}`, status.DATA_LOSS);
        await onPiece({ ...piece, offset: at });
        reached = at + piece.data.length;
      }
      return reached;
    } catch (error) {
      if (error instanceof ClientError) throw Object.assign(error, { reached });
      const e = error as ServiceError;
      throw clientError(target, e.code === status.CANCELLED ? { ...e, code: status.DEADLINE_EXCEEDED, details: `nothing received for ${idleTimeoutMs / 1000} s` } : e);
    } finally {
      clearTimeout(idle);
      call.cancel();
      client.close();
    }
  })().catch((error: unknown) => {
    // The caller resumes from what was written.
    throw Object.assign(error as Error, { reached });
  });
}

async function fileStat(guid: Id, opts: FileOptions, io: Io): Promise<void> {
  const target = opts.targets[0]!;
  const client = new FilesClient(target, credentials.createInsecure(), CHANNEL);
  let s: FileStatResponse;
  try {
    s = await unaryCall(client.stat.bind(client), { guid: Buffer.from(guid, 'hex'), firstChunk: 0, chunkCount: FILES.maxStatChunks, locations: true }, { deadline: Date.now() + Math.max(opts.idleTimeoutMs, 60_000), metadata: new Metadata() }).catch((e: ServiceError) => {
      throw clientError(target, e);
    });
  } finally {
    client.close();
  }
  const chunks = s.chunkInfo.map((c) => ({ index: c.index, guid: idFromBytes(c.guid), hash: Buffer.from(c.hash).toString('hex'), replicas: c.replicas.map(nodeView), providers: c.providers }));
  const perNode = new Map<string, number>();
  for (const c of chunks) for (const r of c.replicas) perNode.set(r.name || r.address, (perNode.get(r.name || r.address) ?? 0) + 1);
  const view = { guid, size: Number(s.size), chunkSize: s.chunkSize, chunks: s.chunks, merkleRoot: Buffer.from(s.merkleRoot).toString('hex'), chunkInfo: chunks, replicasPerNode: Object.fromEntries([...perNode].sort()) };
  if (opts.json) {
    io.out(JSON.stringify(view));
    return;
  }
  io.out(`file ${guid}: ${formatBytes(view.size)} (${view.size} bytes) in ${view.chunks} chunks of ${formatBytes(view.chunkSize)}`);
  io.out(`merkle root ${view.merkleRoot}`);
  io.out(`chunk replicas per node: ${[...perNode].sort().map(([n, c]) => `${n} ${c}`).join(', ')}`);
  io.out(table(['chunk', 'guid', 'replicas', 'providers'], chunks.map((c) => [String(c.index), c.guid, c.replicas.map((r) => r.name || r.address).join(' '), String(c.providers)])));
  if (s.chunks > chunks.length) io.out(`(the first ${chunks.length} of ${s.chunks} chunks)`);
}

async function fileRemove(guid: Id, opts: FileOptions, io: Io): Promise<void> {
  const target = opts.targets[0]!;
  const client = new FilesClient(target, credentials.createInsecure(), CHANNEL);
  try {
    const r = await unaryCall(client.remove.bind(client), { guid: Buffer.from(guid, 'hex') }, { deadline: Date.now() + Math.max(opts.idleTimeoutMs, 120_000) }).catch((e: ServiceError) => {
      throw clientError(target, e);
    });
    if (opts.json) io.out(JSON.stringify({ guid, removed: r.removed, chunksRemoved: r.chunksRemoved }));
    else if (r.removed) io.out(`removed file ${guid} (${r.chunksRemoved} chunks)`);
    else throw new ClientError(`no file with GUID ${guid}`, status.NOT_FOUND);
  } finally {
    client.close();
  }
}

/** Writes to stdout, waiting until the bytes are handed on (a pipe's back-pressure). */
function writeStdout(data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (error) => (error ? reject(error) : resolve())));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

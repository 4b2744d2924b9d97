import { type Id, idFromBytes, idToBytes } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { FILES } from '../constants';
import { sha256 } from '../dht/guid';
import type { Dht } from '../dht/dht';
import type { ReplicaStore } from '../dht/replica-store';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../errors';
import type { ChunkInfo } from '../gen/pastry/v1/files';
import { FetchChunkReply, LocateChunkReply } from '../gen/pastry/v1/files_peer';
import type { Logger } from '../logger';
import type { Application, Endpoint, RoutedMessage } from '../overlay/common-api';
import { toNodeInfo } from '../overlay/codec';
import { ChunkCache } from './chunk-cache';
import { ChunkFetcher } from './fetcher';
import { buildManifest, checkChunkSize, chunkLength, chunkRange, parseManifest, parsePage, pieceGuid, pieceName, SALT_BYTES, type Manifest } from './format';
import { decodeFetch, decodeRouted, encodeLocate, FILES_APP } from './messages';
import { ProviderTable } from './providers';
import { Window } from './window';
import { toBuffer } from '../rpc/wire';

export interface FilesConfig {
  replicas: number;
  maxValueBytes: number;
  rpcTimeoutMs: number;
  /** Bytes of fetched chunks a node keeps to serve other downloaders. */
  cacheBytes: number;
  /** How long one chunk's store or fetch may take. */
  chunkTimeoutMs: number;
  /** Chunk hashes a manifest holds itself (FILES.hashesPerPage unless set; tests make it small). */
  hashesPerPage?: number;
}

export interface UploadResult {
  guid: Id;
  size: number;
  chunks: number;
  chunkSize: number;
  merkleRoot: Buffer;
}

/** One piece of a download, in file order. */
export interface DownloadPiece {
  offset: number;
  data: Buffer;
  size: number;
  /** SHA-256 of the whole chunk when `data` is one. */
  chunkHash: Buffer;
}

/**
 * File sharing, an application on the common API beside the DHT: files become chunks and a
 * manifest stored as DHT objects; downloads fetch chunks in parallel from the nodes each
 * chunk's root names (its replicas, and nodes that fetched it before: the swarm).
 */
export class Files implements Application {
  readonly id = FILES_APP;
  readonly cache: ChunkCache;
  readonly fetcher: ChunkFetcher;
  readonly providers: ProviderTable;
  /** Bytes this node served to other nodes' downloads from its cache or replicas. */
  readonly served = { chunks: 0, bytes: 0 };

  constructor(
    private readonly endpoint: Endpoint,
    private readonly dht: Dht,
    private readonly local: ReplicaStore,
    private readonly config: FilesConfig,
    private readonly log: Logger,
  ) {
    this.cache = new ChunkCache(config.cacheBytes);
    this.providers = new ProviderTable({ ttlMs: FILES.providerTtlMs, perChunk: FILES.maxProvidersPerChunk, chunks: FILES.maxProviderChunks }, () => endpoint.random());
    this.fetcher = new ChunkFetcher(endpoint, dht, local, this.cache, config, log);
  }

  private deadline(): number {
    return this.endpoint.now() + this.config.chunkTimeoutMs;
  }

  /** At a chunk's root: who has it. The requester is recorded as a provider from now on. */
  async deliver(message: RoutedMessage): Promise<Buffer> {
    const { locate } = decodeRouted(message.payload);
    const now = this.endpoint.now();
    const requester = locate?.requester?.id.length === 16 ? { id: idFromBytes(locate.requester.id), address: locate.requester.address, name: locate.requester.name } : undefined;
    const { providers, count } = this.providers.lookup(message.key, now, FILES.providersReturned, requester?.id);
    if (requester && requester.address !== '') this.providers.record(message.key, requester, now);
    const replicas = this.endpoint.replicaSet(message.key, this.config.replicas);
    return toBuffer(LocateChunkReply.encode({ replicas: replicas.map(toNodeInfo), providers: providers.map(toNodeInfo), providerCount: count }).finish());
  }

  /** Another node asks for a chunk: from the cache, a fetch of it under way here, or this node's replica. */
  async receive(_from: NodeHandle, payload: Buffer): Promise<Buffer> {
    const request = decodeFetch(payload);
    const guid = idFromBytes(request.guid);
    let data = this.cache.get(guid);
    const pending = data ? undefined : this.fetcher.pending(guid);
    if (pending && request.waitMs > 0) {
      data = await Promise.race([pending.catch(() => undefined), new Promise<undefined>((resolve) => this.endpoint.setTimer(Math.min(request.waitMs, FILES.providerWaitMs), () => resolve(undefined)))]);
    }
    if (!data) {
      const { object } = await this.local.read(guid).catch(() => ({ object: undefined }));
      if (object && !object.tombstone) data = object.value;
    }
    if (!data) return toBuffer(FetchChunkReply.encode({ found: false, data: Buffer.alloc(0) }).finish());
    this.served.chunks++;
    this.served.bytes += data.length;
    return toBuffer(FetchChunkReply.encode({ found: true, data }).finish());
  }

  update(node: NodeHandle, joined: boolean): void {
    if (!joined) this.providers.drop(node.id);
  }

  /**
   * Stores a file from a stream of byte blocks: chunks are cut as the bytes arrive and
   * stored with at most FILES.uploadWindow in flight (the stream waits meanwhile), then the
   * manifest. Resolves with the file's GUID once every part is acknowledged.
   */
  async upload(source: AsyncIterable<{ chunkSize?: number; data: Uint8Array }>): Promise<UploadResult> {
    const salt = Buffer.from(Array.from({ length: SALT_BYTES }, () => Math.floor(this.endpoint.random() * 256)));
    const stored: Buffer[] = [];
    const window = new Window(FILES.uploadWindow);
    try {
      return await this.storeFile(source, salt, window, stored);
    } catch (error) {
      // No manifest names these pieces, and no later upload can (its salt differs): remove them.
      void window
        .drain()
        .catch(() => undefined)
        .then(() => this.removePieces(salt, stored))
        .then(
          (removed) => this.log.info('upload_abandoned', { pieces: removed, error: String(error) }),
          (e: unknown) => this.log.warn('upload_cleanup_failed', { pieces: stored.length, error: String(e) }),
        );
      throw error;
    }
  }

  private async removePieces(salt: Buffer, hashes: Buffer[]): Promise<number> {
    const window = new Window(FILES.removeFanout);
    for (const hash of hashes) await window.add(() => this.withRetries(() => this.dht.remove({ guid: idToBytes(pieceGuid(salt, hash)), name: '' }, this.deadline())).then(() => undefined));
    await window.drain();
    return hashes.length;
  }

  private async storeFile(source: AsyncIterable<{ chunkSize?: number; data: Uint8Array }>, salt: Buffer, window: Window, stored: Buffer[]): Promise<UploadResult> {
    const hashes: Buffer[] = [];
    let chunkSize = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    const store = (chunk: Buffer): Promise<void> => {
      const hash = sha256(chunk);
      hashes.push(hash);
      return window.add(() => this.putPiece(salt, chunk).then(() => void stored.push(hash)));
    };
    for await (const message of source) {
      if (chunkSize === 0) chunkSize = checkChunkSize(message.chunkSize ?? 0, this.config.maxValueBytes);
      else if (message.chunkSize) throw new InvalidArgumentError('the chunk size can only be set in the first message');
      let data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
      size += data.length;
      while (pendingBytes + data.length >= chunkSize) {
        const take = chunkSize - pendingBytes;
        pending.push(data.subarray(0, take));
        data = data.subarray(take);
        await store(Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
      if (data.length > 0) {
        pending.push(Buffer.from(data));
        pendingBytes += data.length;
      }
    }
    if (chunkSize === 0) chunkSize = checkChunkSize(0, this.config.maxValueBytes);
    if (pendingBytes > 0) await store(Buffer.concat(pending));
    await window.drain();
    const { manifest, pages } = buildManifest(size, chunkSize, salt, hashes, this.config.hashesPerPage);
    for (const page of pages) await window.add(() => this.putPiece(salt, page).then(() => void stored.push(sha256(page))));
    await window.drain();
    const file = await this.withRetries(() => this.dht.put('', manifest, this.deadline()));
    this.log.info('file_stored', { guid: file.guid, size, chunks: hashes.length });
    return { guid: file.guid, size, chunks: hashes.length, chunkSize, merkleRoot: parseManifest(file.guid, manifest).merkleRoot };
  }

  private async putPiece(salt: Buffer, data: Buffer): Promise<void> {
    await this.withRetries(() => this.dht.put(pieceName(salt, sha256(data)), data, this.deadline()));
  }

  /** A write that failed for want of a reachable replica is tried again, a few times. */
  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= FILES.putAttempts || !(error instanceof UnavailableError || (error as { code?: number }).code === 14)) throw error;
        await new Promise<void>((resolve) => this.endpoint.setTimer(200 * attempt, resolve));
      }
    }
  }

  async manifest(guid: Id): Promise<Manifest> {
    let routed;
    try {
      routed = await this.dht.get({ guid: idToBytes(guid), name: '' }, this.deadline());
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError(`no file with GUID ${guid}`);
      throw error;
    }
    return parseManifest(guid, routed.response.value);
  }

  /** The chunk hashes [first, end) of a file, reading its pages when it has them. */
  async hashes(m: Manifest, first: number, end: number): Promise<Buffer[]> {
    if (m.pages.length === 0) return m.hashes.slice(first, end);
    const perPage = this.config.hashesPerPage ?? FILES.hashesPerPage;
    const out: Buffer[] = [];
    for (let page = Math.floor(first / perPage); page * perPage < end; page++) {
      const hash = m.pages[page];
      if (!hash) break;
      const hashes = parsePage(hash, await this.fetcher.fetch(m.salt, hash, this.deadline()));
      const from = page * perPage;
      out.push(...hashes.slice(Math.max(0, first - from), end - from));
    }
    return out;
  }

  /**
   * The file's bytes [offset, offset + length) in order, each chunk verified before it is
   * given out; up to FILES.downloadWindow chunks are fetched ahead in parallel.
   */
  async *download(guid: Id, offset = 0, length = 0): AsyncGenerator<DownloadPiece> {
    const m = await this.manifest(guid);
    const { first, end, stop } = chunkRange(m, offset, length);
    const perBatch = Math.max(FILES.downloadWindow, Math.min(this.config.hashesPerPage ?? FILES.hashesPerPage, 4096));
    const ahead: { index: number; hash: Buffer; data: Promise<Buffer> }[] = [];
    let next = first;
    let hashes: Buffer[] = [];
    let hashesFrom = first;
    const schedule = async (): Promise<void> => {
      while (ahead.length < FILES.downloadWindow && next < end) {
        if (next - hashesFrom >= hashes.length) {
          hashesFrom = next;
          hashes = await this.hashes(m, next, Math.min(end, next + perBatch));
        }
        const hash = hashes[next - hashesFrom]!;
        const data = this.fetcher.fetch(m.salt, hash, this.deadline());
        data.catch(() => undefined);
        ahead.push({ index: next, hash, data });
        next++;
      }
    };
    await schedule();
    while (ahead.length > 0) {
      const { index, hash, data } = ahead.shift()!;
      const chunk = await data;
      await schedule();
      const start = index * m.chunkSize;
      const from = Math.max(offset, start) - start;
      const to = Math.min(stop, start + chunkLength(m, index)) - start;
      const whole = from === 0 && to === chunk.length;
      yield { offset: start + from, data: whole ? chunk : chunk.subarray(from, to), size: m.size, chunkHash: whole ? hash : Buffer.alloc(0) };
    }
  }

  /** The manifest, and chunks [first, first + count) with, if asked, where their replicas live. */
  async stat(guid: Id, first: number, count: number, locations: boolean): Promise<{ manifest: Manifest; chunks: ChunkInfo[] }> {
    const m = await this.manifest(guid);
    const end = Math.min(m.chunks, first + Math.min(count, FILES.maxStatChunks));
    const hashes = first < end ? await this.hashes(m, first, end) : [];
    const window = new Window(FILES.removeFanout);
    const chunks: ChunkInfo[] = hashes.map((hash, i) => ({ index: first + i, guid: idToBytes(pieceGuid(m.salt, hash)), hash, replicas: [], providers: 0 }));
    if (locations) {
      for (const info of chunks) {
        await window.add(async () => {
          const result = await this.endpoint.route(idFromBytes(info.guid), encodeLocate(undefined), { deadline: this.deadline() });
          const reply = LocateChunkReply.decode(result.reply);
          info.replicas = reply.replicas;
          info.providers = reply.providerCount;
        });
      }
      await window.drain();
    }
    return { manifest: m, chunks };
  }

  /** Removes every chunk (and page) of the file, then its manifest: a failed removal can be run again. */
  async remove(guid: Id): Promise<{ removed: boolean; chunksRemoved: number }> {
    let m: Manifest;
    try {
      m = await this.manifest(guid);
    } catch (error) {
      if (error instanceof NotFoundError) return { removed: false, chunksRemoved: 0 };
      throw error;
    }
    const window = new Window(FILES.removeFanout);
    let chunksRemoved = 0;
    const removePiece = (hash: Buffer): Promise<void> =>
      window.add(async () => {
        const piece = pieceGuid(m.salt, hash);
        await this.withRetries(() => this.dht.remove({ guid: idToBytes(piece), name: '' }, this.deadline()));
        this.cache.delete(piece);
        chunksRemoved++;
      });
    const perPage = this.config.hashesPerPage ?? FILES.hashesPerPage;
    for (let from = 0; from < m.chunks; from += perPage) for (const hash of await this.hashes(m, from, Math.min(m.chunks, from + perPage))) await removePiece(hash);
    await window.drain();
    for (const page of m.pages) await removePiece(page);
    await window.drain();
    if (m.pages.length > 0) chunksRemoved -= m.pages.length;
    await this.withRetries(() => this.dht.remove({ guid: idToBytes(guid), name: '' }, this.deadline()));
    this.log.info('file_removed', { guid, chunks: chunksRemoved });
    return { removed: true, chunksRemoved };
  }
}

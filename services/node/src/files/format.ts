import { type Id } from '../core/id';
import { guidForContent, guidForName, sha256 } from '../dht/guid';
import { DataLossError, InvalidArgumentError } from '../errors';
import { ChunkPage, FileManifest } from '../gen/pastry/v1/files';
import { FILES } from '../constants';
import { toBuffer } from '../rpc/wire';

/**
 * The stored file format (the README's "File format"): every chunk, and every page of chunk
 * hashes, is a named DHT object `pastry-file/<salt hex>/<SHA-256 hex of its bytes>`, so its
 * GUID is SHA-256 of that name and any client can read it with a plain Get. The manifest is
 * a content-addressed object: its GUID is the file's GUID, and the hashes in it verify every
 * byte. The salt is random per upload, so no two uploads share a chunk and removing a file
 * never touches another one's.
 */
export const FORMAT_VERSION = 1;
export const SALT_BYTES = 16;
const HASH_BYTES = 32;

export function pieceName(salt: Buffer, hash: Buffer): string {
  return `pastry-file/${salt.toString('hex')}/${hash.toString('hex')}`;
}

export function pieceGuid(salt: Buffer, hash: Buffer): Id {
  return guidForName(pieceName(salt, hash));
}

/** SHA-256 Merkle root: pairs hashed left to right, an odd one carried up; empty file: SHA-256 of nothing. */
export function merkleRoot(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return sha256(Buffer.alloc(0));
  let level = hashes.slice();
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256(Buffer.concat([level[i]!, level[i + 1]!])) : level[i]!);
    level = next;
  }
  return level[0]!;
}

/** A chunk size an upload may choose: a power of two within the bounds (0: the default). */
export function checkChunkSize(bytes: number, maxValueBytes: number): number {
  if (bytes === 0) return Math.min(FILES.defaultChunkBytes, floorPowerOfTwo(maxValueBytes));
  const power = bytes > 0 && (bytes & (bytes - 1)) === 0;
  if (!power || bytes < FILES.minChunkBytes || bytes > FILES.maxChunkBytes) {
    throw new InvalidArgumentError(`chunk size must be a power of two from ${FILES.minChunkBytes} to ${FILES.maxChunkBytes} bytes, got ${bytes}`);
  }
  if (bytes > maxValueBytes) throw new InvalidArgumentError(`chunk size ${bytes} is over this ring's value limit of ${maxValueBytes} bytes`);
  return bytes;
}

function floorPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** A decoded, checked manifest. Hashes may still be in pages (`pages` non-empty). */
export interface Manifest {
  size: number;
  chunkSize: number;
  chunks: number;
  salt: Buffer;
  merkleRoot: Buffer;
  /** The hashes themselves, or empty when they are in pages. */
  hashes: Buffer[];
  /** SHA-256 of each page of hashes. */
  pages: Buffer[];
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** The bytes of chunk `index`. */
export function chunkLength(m: Pick<Manifest, 'size' | 'chunkSize'>, index: number): number {
  return Math.min(m.chunkSize, m.size - index * m.chunkSize);
}

/**
 * The manifest for `hashes`, with the hashes as pages when there are more than a manifest
 * holds; the pages come back for the caller to store first.
 */
export function buildManifest(size: number, chunkSize: number, salt: Buffer, hashes: Buffer[], hashesPerPage: number = FILES.hashesPerPage): { manifest: Buffer; pages: Buffer[] } {
  const root = merkleRoot(hashes);
  const pages: Buffer[] = [];
  if (hashes.length > hashesPerPage) {
    for (let i = 0; i < hashes.length; i += hashesPerPage) pages.push(toBuffer(ChunkPage.encode({ chunkHashes: hashes.slice(i, i + hashesPerPage) }).finish()));
  }
  const manifest = toBuffer(
    FileManifest.encode({
      format: FORMAT_VERSION,
      size,
      chunkSize,
      salt,
      chunkHashes: pages.length > 0 ? [] : hashes,
      merkleRoot: root,
      pages: pages.map((p) => sha256(p)),
      chunks: hashes.length,
    }).finish(),
  );
  return { manifest, pages };
}

/** Decodes what was read under a file's GUID; anything that is not a sound manifest of that GUID is DATA_LOSS or INVALID_ARGUMENT. */
export function parseManifest(guid: Id, bytes: Buffer): Manifest {
  if (guidForContent(bytes) !== guid) throw new DataLossError(`the object read for file ${guid} does not match its GUID`);
  let m: FileManifest;
  try {
    m = FileManifest.decode(bytes);
  } catch {
    throw new InvalidArgumentError(`${guid} is not a file (not a manifest)`);
  }
  const size = Number(m.size);
  const salt = Buffer.from(m.salt);
  const hashes = m.chunkHashes.map((h) => Buffer.from(h));
  const pages = m.pages.map((h) => Buffer.from(h));
  const sound =
    m.format === FORMAT_VERSION &&
    Number.isSafeInteger(size) &&
    m.chunkSize >= FILES.minChunkBytes &&
    m.chunkSize <= FILES.maxChunkBytes &&
    salt.length === SALT_BYTES &&
    m.chunks === chunkCount(size, m.chunkSize) &&
    m.merkleRoot.length === HASH_BYTES &&
    (pages.length === 0 ? hashes.length === m.chunks : hashes.length === 0) &&
    [...hashes, ...pages].every((h) => h.length === HASH_BYTES);
  if (!sound) throw new InvalidArgumentError(`${guid} is not a file (not a manifest of format ${FORMAT_VERSION})`);
  if (pages.length === 0 && !merkleRoot(hashes).equals(m.merkleRoot)) throw new DataLossError(`the manifest of file ${guid} has a wrong Merkle root`);
  return { size, chunkSize: m.chunkSize, chunks: m.chunks, salt, merkleRoot: Buffer.from(m.merkleRoot), hashes, pages };
}

/** Decodes a page read for `hash`, checked against it. */
export function parsePage(hash: Buffer, bytes: Buffer): Buffer[] {
  if (!sha256(bytes).equals(hash)) throw new DataLossError('a page of chunk hashes does not match its hash');
  const hashes = ChunkPage.decode(bytes).chunkHashes.map((h) => Buffer.from(h));
  if (!hashes.every((h) => h.length === HASH_BYTES)) throw new DataLossError('a page of chunk hashes is malformed');
  return hashes;
}

/** The chunks holding bytes [offset, offset + length) of the file; length 0: to the end. */
export function chunkRange(m: Pick<Manifest, 'size' | 'chunkSize'>, offset: number, length: number): { first: number; end: number; stop: number } {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > m.size) throw new InvalidArgumentError(`offset ${offset} is outside the file (${m.size} bytes)`);
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidArgumentError(`length must be a non-negative integer, got ${length}`);
  const stop = length === 0 ? m.size : Math.min(m.size, offset + length);
  return { first: Math.floor(offset / m.chunkSize), end: Math.ceil(stop / m.chunkSize), stop };
}

import type { StoredObject } from './store';

/**
 * An object's metadata packed into bytes, as both stores keep it next to the value: a flags
 * byte, then version, writer, hash, size, createdAt and, when flagged, divertedTo, redirect
 * and divertedFrom, each as a short string. A short string's first byte h says what follows:
 * h < 0x80, h bytes of text; 0x80 <= h < 0xff, h - 0x80 bytes that are lowercase hex text
 * in binary (GUIDs and SHA-256 hashes take half the room); 0xff, a 16-bit big-endian length
 * and then that much text. Numbers are their decimal text, exactly what String() gives, so
 * that Number() reads them back bit for bit and Redis' Lua scripts can use them as they are.
 */
export const FLAG_TOMBSTONE = 1;
export const FLAG_CONTENT_ADDRESSED = 2;
export const FLAG_DIVERTED = 4;
export const FLAG_REDIRECT = 8;
/** 16 is the Redis store's own-key flag. */
export const FLAG_DIVERTED_FROM = 32;

export type ObjectMeta = Omit<StoredObject, 'guid' | 'value'>;

const HEX = /^(?:[0-9a-f]{2})+$/;
const MAX_HEX_BYTES = 0xfe - 0x80;

/** Bytes `text` takes as a short string. */
export function shortLength(text: string): number {
  if (text.length <= MAX_HEX_BYTES * 2 && HEX.test(text)) return 1 + text.length / 2;
  const n = Buffer.byteLength(text);
  if (n < 0x80) return 1 + n;
  if (n > 0xffff) throw new RangeError(`a stored metadata string is at most 65,535 bytes, got ${n}`);
  return 3 + n;
}

export function writeShort(text: string, target: Buffer, offset: number): number {
  if (text.length <= MAX_HEX_BYTES * 2 && HEX.test(text)) {
    target[offset] = 0x80 + text.length / 2;
    return offset + 1 + target.write(text, offset + 1, 'hex');
  }
  const n = Buffer.byteLength(text);
  if (n < 0x80) {
    target[offset] = n;
    return offset + 1 + target.write(text, offset + 1, 'utf8');
  }
  target[offset] = 0xff;
  target.writeUInt16BE(n, offset + 1);
  return offset + 3 + target.write(text, offset + 3, 'utf8');
}

/** The short string at `offset` and the offset after it. */
export function readShort(source: Buffer, offset: number): [string, number] {
  const h = source[offset]!;
  if (h < 0x80) return [source.toString('utf8', offset + 1, offset + 1 + h), offset + 1 + h];
  if (h < 0xff) return [source.toString('hex', offset + 1, offset + 1 + h - 0x80), offset + 1 + h - 0x80];
  const n = source.readUInt16BE(offset + 1);
  return [source.toString('utf8', offset + 3, offset + 3 + n), offset + 3 + n];
}

/** Offset just past the short string at `offset`, without decoding it. */
export function skipShort(source: Buffer, offset: number): number {
  const h = source[offset]!;
  if (h < 0x80) return offset + 1 + h;
  if (h < 0xff) return offset + 1 + h - 0x80;
  return offset + 3 + source.readUInt16BE(offset + 1);
}

function flagsOf(o: ObjectMeta): number {
  return (o.tombstone ? FLAG_TOMBSTONE : 0) | (o.contentAddressed ? FLAG_CONTENT_ADDRESSED : 0) | (o.divertedTo ? FLAG_DIVERTED : 0) | (o.redirect ? FLAG_REDIRECT : 0) | (o.divertedFrom ? FLAG_DIVERTED_FROM : 0);
}

/** Bytes the packed metadata of `o` takes. */
export function metaLength(o: ObjectMeta): number {
  return (
    1 +
    shortLength(String(o.version)) +
    shortLength(o.writer) +
    shortLength(o.hash) +
    shortLength(String(o.size)) +
    shortLength(String(o.createdAt)) +
    (o.divertedTo ? shortLength(o.divertedTo) : 0) +
    (o.redirect ? shortLength(o.redirect) : 0) +
    (o.divertedFrom ? shortLength(o.divertedFrom) : 0)
  );
}

/** Writes the packed metadata of `o` at `offset`; returns the offset after it. */
export function writeMeta(o: ObjectMeta, target: Buffer, offset: number): number {
  target[offset] = flagsOf(o);
  let at = writeShort(String(o.version), target, offset + 1);
  at = writeShort(o.writer, target, at);
  at = writeShort(o.hash, target, at);
  at = writeShort(String(o.size), target, at);
  at = writeShort(String(o.createdAt), target, at);
  if (o.divertedTo) at = writeShort(o.divertedTo, target, at);
  if (o.redirect) at = writeShort(o.redirect, target, at);
  if (o.divertedFrom) at = writeShort(o.divertedFrom, target, at);
  return at;
}

/** The packed metadata at `offset` and the offset after it. */
export function readMeta(source: Buffer, offset: number): [ObjectMeta, number] {
  const flags = source[offset]!;
  const [version, a] = readShort(source, offset + 1);
  const [writer, b] = readShort(source, a);
  const [hash, c] = readShort(source, b);
  const [size, d] = readShort(source, c);
  const [createdAt, e] = readShort(source, d);
  let at = e;
  const meta: ObjectMeta = {
    version: Number(version),
    writer,
    hash,
    size: Number(size),
    createdAt: Number(createdAt),
    tombstone: (flags & FLAG_TOMBSTONE) !== 0,
    contentAddressed: (flags & FLAG_CONTENT_ADDRESSED) !== 0,
  };
  if (flags & FLAG_DIVERTED) [meta.divertedTo, at] = readShort(source, at);
  if (flags & FLAG_REDIRECT) [meta.redirect, at] = readShort(source, at);
  if (flags & FLAG_DIVERTED_FROM) [meta.divertedFrom, at] = readShort(source, at);
  return [meta, at];
}

/** Metadata then value, in one buffer: the Redis store's value for an object. */
export function packObject(o: StoredObject): Buffer {
  const n = metaLength(o);
  const out = Buffer.allocUnsafe(n + o.value.length);
  writeMeta(o, out, 0);
  o.value.copy(out, n);
  return out;
}

/** The object packed in `packed`; its value is a view of `packed`, not a copy. */
export function unpackObject(guid: string, packed: Buffer, values = true): StoredObject {
  const [meta, at] = readMeta(packed, 0);
  return { guid, value: values ? packed.subarray(at) : Buffer.alloc(0), ...meta };
}

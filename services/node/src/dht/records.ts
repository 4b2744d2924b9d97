import { idFromBytes, idToBytes } from '../core/id';
import { InvalidArgumentError } from '../errors';
import type { ObjectMeta, ObjectRecord } from '../gen/pastry/v1/dht_peer';
import { keyFromBytes } from '../overlay/codec';
import type { StoredObject } from '../store/store';

export function toRecord(o: StoredObject): ObjectRecord {
  return {
    guid: idToBytes(o.guid),
    value: o.value,
    version: o.version,
    writer: idToBytes(o.writer),
    hash: o.hash,
    size: o.size,
    createdAtMs: o.createdAt,
    tombstone: o.tombstone,
    contentAddressed: o.contentAddressed,
    redirect: o.redirect ? idToBytes(o.redirect) : Buffer.alloc(0),
    divertedFrom: o.divertedFrom ? idToBytes(o.divertedFrom) : Buffer.alloc(0),
  };
}

/** Validates a record a peer sent; its size must match its value. */
export function fromRecord(r: ObjectRecord, maxValueBytes: number): StoredObject {
  const guid = keyFromBytes(r.guid, 'object.guid');
  if (r.writer.length !== 16) throw new InvalidArgumentError('object.writer must be 16 bytes');
  if (r.value.length > maxValueBytes) throw new InvalidArgumentError(`object ${guid} is over the value size limit`);
  if (!/^[0-9a-f]{64}$/.test(r.hash)) throw new InvalidArgumentError(`object ${guid} has a malformed hash`);
  if (r.redirect.length !== 0 && (r.redirect.length !== 16 || r.value.length !== 0 || r.tombstone)) throw new InvalidArgumentError(`object ${guid}: a redirect is a 16-byte GUID on a live record with no value`);
  if (r.divertedFrom.length !== 0 && r.divertedFrom.length !== 16) throw new InvalidArgumentError(`object ${guid}: divertedFrom is a 16-byte GUID`);
  return {
    guid,
    value: r.value,
    version: Number(r.version),
    writer: idFromBytes(r.writer),
    hash: r.hash,
    size: r.value.length,
    createdAt: Number(r.createdAtMs),
    tombstone: r.tombstone,
    contentAddressed: r.contentAddressed,
    ...(r.redirect.length === 16 ? { redirect: idFromBytes(r.redirect) } : {}),
    ...(r.divertedFrom.length === 16 ? { divertedFrom: idFromBytes(r.divertedFrom) } : {}),
  };
}

export function toMeta(o: StoredObject): ObjectMeta {
  return { guid: idToBytes(o.guid), version: o.version, writer: idToBytes(o.writer), tombstone: o.tombstone, hash: o.hash, size: o.size };
}

export interface Meta {
  guid: string;
  version: number;
  writer: string;
  tombstone: boolean;
  /** Value bytes, as the sender stores them. */
  size: number;
}

export function fromMeta(m: ObjectMeta): Meta {
  if (m.writer.length !== 16) throw new InvalidArgumentError('meta.writer must be 16 bytes');
  return { guid: keyFromBytes(m.guid, 'meta.guid'), version: Number(m.version), writer: idFromBytes(m.writer), tombstone: m.tombstone, size: Number(m.size) };
}

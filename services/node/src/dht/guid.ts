import { createHash } from 'node:crypto';
import { ID_BYTES, idFromBytes, type Id } from '../core/id';

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** GUID of a named object, and the node id of a named node: SHA-256(name)[0:16]. */
export function guidForName(name: string): Id {
  return idFromBytes(sha256(name).subarray(0, ID_BYTES));
}

/** The GUID a file diverted from `guid` is stored under on its `attempt`-th try: rooted elsewhere. */
export function saltedGuid(guid: Id, attempt: number): Id {
  return idFromBytes(sha256(`pastry-file-diversion:${guid}:${attempt}`).subarray(0, ID_BYTES));
}

/** GUID of a content-addressed object: SHA-256(value)[0:16]. */
export function guidForContent(value: Uint8Array): Id {
  return idFromBytes(sha256(value).subarray(0, ID_BYTES));
}

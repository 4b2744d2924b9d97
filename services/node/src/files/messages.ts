import { type Id, idToBytes } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { InvalidArgumentError } from '../errors';
import { FetchChunk, FilesRouted } from '../gen/pastry/v1/files_peer';
import { toNodeInfo } from '../overlay/codec';
import { toBuffer } from '../rpc/wire';

/** The file-sharing application's id on the overlay. */
export const FILES_APP = 'files';

/** A chunk lookup; with a requester, the root records it as a provider (Stat only looks). */
export function encodeLocate(requester: NodeHandle | undefined): Buffer {
  return toBuffer(FilesRouted.encode({ locate: { requester: requester ? toNodeInfo(requester) : undefined } }).finish());
}

export function encodeFetch(guid: Id, waitMs: number): Buffer {
  return toBuffer(FetchChunk.encode({ guid: idToBytes(guid), waitMs }).finish());
}

export function decodeRouted(payload: Buffer): FilesRouted {
  try {
    const m = FilesRouted.decode(payload);
    if (!m.locate) throw new Error('no body');
    return m;
  } catch (error) {
    throw new InvalidArgumentError(`malformed file-sharing message: ${(error as Error).message}`);
  }
}

export function decodeFetch(payload: Buffer): FetchChunk {
  try {
    const m = FetchChunk.decode(payload);
    if (m.guid.length !== 16) throw new Error('the GUID is not 16 bytes');
    return m;
  } catch (error) {
    throw new InvalidArgumentError(`malformed chunk fetch: ${(error as Error).message}`);
  }
}

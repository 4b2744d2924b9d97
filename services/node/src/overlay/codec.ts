import { ID_BYTES, idFromBytes, idToBytes, type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { LIMITS } from '../constants';
import { InvalidArgumentError } from '../errors';
import type { NodeInfo } from '../gen/pastry/v1/common';

const ADDRESS = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):\d{1,5}$/;

export function toNodeInfo(node: NodeHandle): NodeInfo {
  return { id: idToBytes(node.id), address: node.address, name: node.name };
}

/** Validates what a peer sent; a malformed entry is the peer's error, never a crash. */
export function fromNodeInfo(info: NodeInfo | undefined, field = 'node'): NodeHandle {
  if (!info) throw new InvalidArgumentError(`${field} is missing`);
  if (info.id.length !== ID_BYTES) throw new InvalidArgumentError(`${field}.id must be ${ID_BYTES} bytes, got ${info.id.length}`);
  if (!ADDRESS.test(info.address)) throw new InvalidArgumentError(`${field}.address must be host:port, got ${JSON.stringify(info.address)}`);
  if (info.name.length > 253) throw new InvalidArgumentError(`${field}.name is too long`);
  return { id: idFromBytes(info.id), address: info.address, name: info.name };
}

export function fromNodeInfos(infos: NodeInfo[], field: string): NodeHandle[] {
  if (infos.length > LIMITS.maxNodesInMessage) {
    throw new InvalidArgumentError(`${field} has ${infos.length} entries, more than ${LIMITS.maxNodesInMessage}`);
  }
  return infos.map((info, i) => fromNodeInfo(info, `${field}[${i}]`));
}

export function keyFromBytes(bytes: Buffer, field = 'key'): Id {
  if (bytes.length !== ID_BYTES) throw new InvalidArgumentError(`${field} must be ${ID_BYTES} bytes (a 128-bit GUID), got ${bytes.length}`);
  return idFromBytes(bytes);
}

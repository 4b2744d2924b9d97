import { Metadata } from '@grpc/grpc-js';
import { idToBytes, type Id } from '../core/id';
import { LIMITS } from '../constants';
import { DataLossError, InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { Operation, type ForwardRequest, type ForwardResponse } from '../gen/pastry/v1/peer';
import type { Key } from '../gen/pastry/v1/dht';
import { keyFromBytes } from '../rpc/codec';
import { throwIfError, type Overlay } from '../overlay/overlay';
import type { Store, StoredObject } from '../store/store';
import { guidForContent, guidForName, sha256 } from './guid';

export interface DhtConfig {
  maxValueBytes: number;
}

export interface Routed {
  guid: Id;
  response: ForwardResponse;
}

/**
 * The DHT on the overlay: client operations are routed to the key's root, which serves
 * them from its store.
 */
export class Dht {
  constructor(
    private readonly overlay: Overlay,
    private readonly store: Store,
    private readonly config: DhtConfig,
    private readonly clock: { now(): number },
  ) {
    overlay.setDeliver((req) => this.serve(req));
  }

  async put(name: string, value: Buffer, deadline: number, metadata?: Metadata): Promise<Routed> {
    this.checkValue(value);
    if (Buffer.byteLength(name) > LIMITS.maxNameBytes) throw new InvalidArgumentError(`name is longer than ${LIMITS.maxNameBytes} bytes`);
    const contentAddressed = name === '';
    const guid = contentAddressed ? guidForContent(value) : guidForName(name);
    return this.routeOp(guid, Operation.OPERATION_PUT, value, contentAddressed, deadline, metadata);
  }

  async get(key: Key | undefined, deadline: number, metadata?: Metadata): Promise<Routed> {
    const guid = resolveKey(key);
    const routed = await this.routeOp(guid, Operation.OPERATION_GET, Buffer.alloc(0), false, deadline, metadata);
    if (!routed.response.found) throw new NotFoundError(`no object with GUID ${guid}`);
    return routed;
  }

  async remove(key: Key | undefined, deadline: number, metadata?: Metadata): Promise<Routed> {
    return this.routeOp(resolveKey(key), Operation.OPERATION_REMOVE, Buffer.alloc(0), false, deadline, metadata);
  }

  async route(key: Key | undefined, deadline: number, metadata?: Metadata): Promise<Routed> {
    return this.routeOp(resolveKey(key), Operation.OPERATION_ROUTE, Buffer.alloc(0), false, deadline, metadata);
  }

  private async routeOp(
    guid: Id,
    operation: Operation,
    value: Buffer,
    contentAddressed: boolean,
    deadline: number,
    metadata?: Metadata,
  ): Promise<Routed> {
    const request: ForwardRequest = { key: idToBytes(guid), operation, value, hops: [], contentAddressed };
    const response = throwIfError(await this.overlay.route(request, deadline, metadata));
    return { guid, response };
  }

  /** At the root: the operation itself, on this node's store. */
  async serve(req: ForwardRequest): Promise<{ found: boolean; value: Buffer }> {
    const guid = keyFromBytes(req.key);
    if (!this.store.healthy()) throw new UnavailableError('this node\'s store is unavailable');
    switch (req.operation) {
      case Operation.OPERATION_ROUTE:
        return { found: false, value: Buffer.alloc(0) };
      case Operation.OPERATION_PUT:
        return this.storeValue(guid, req);
      case Operation.OPERATION_GET:
        return this.readValue(guid);
      case Operation.OPERATION_REMOVE:
        return { found: await this.store.delete(guid), value: Buffer.alloc(0) };
      default:
        throw new InvalidArgumentError(`unknown operation ${req.operation}`);
    }
  }

  private async storeValue(guid: Id, req: ForwardRequest): Promise<{ found: boolean; value: Buffer }> {
    this.checkValue(req.value);
    const hash = sha256(req.value);
    if (req.contentAddressed && hash.subarray(0, 16).toString('hex') !== guid) {
      throw new InvalidArgumentError('content-addressed GUID does not match SHA-256 of the value');
    }
    const previous = await this.store.get(guid);
    const object: StoredObject = {
      guid,
      value: Buffer.from(req.value),
      version: (previous?.version ?? 0) + 1,
      writer: this.overlay.self.id,
      hash: hash.toString('hex'),
      size: req.value.length,
      createdAt: this.clock.now(),
      tombstone: false,
      contentAddressed: req.contentAddressed,
    };
    await this.store.put(object);
    return { found: previous !== undefined && !previous.tombstone, value: Buffer.alloc(0) };
  }

  private async readValue(guid: Id): Promise<{ found: boolean; value: Buffer }> {
    const object = await this.store.get(guid);
    if (!object || object.tombstone) return { found: false, value: Buffer.alloc(0) };
    if (sha256(object.value).toString('hex') !== object.hash) throw new DataLossError(`stored bytes of ${guid} are corrupt`);
    if (object.contentAddressed && object.hash.slice(0, 32) !== guid) throw new DataLossError(`stored bytes of ${guid} do not match their GUID`);
    return { found: true, value: object.value };
  }

  private checkValue(value: Buffer): void {
    if (value.length > this.config.maxValueBytes) {
      throw new ResourceExhaustedError(`value is ${value.length} bytes, over the limit of ${this.config.maxValueBytes}`);
    }
  }
}

/** A Key names exactly one of a 16-byte GUID or a non-empty name. */
export function resolveKey(key: Key | undefined): Id {
  const hasGuid = key !== undefined && key.guid.length > 0;
  const hasName = key !== undefined && key.name.length > 0;
  if (hasGuid === hasName) throw new InvalidArgumentError('key needs exactly one of guid (16 bytes) or a non-empty name');
  if (hasGuid) return keyFromBytes(key!.guid, 'key.guid');
  if (Buffer.byteLength(key!.name) > LIMITS.maxNameBytes) throw new InvalidArgumentError(`name is longer than ${LIMITS.maxNameBytes} bytes`);
  return guidForName(key!.name);
}

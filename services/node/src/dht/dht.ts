import { Metadata } from '@grpc/grpc-js';
import { idToBytes, type Id } from '../core/id';
import { isReplica } from '../core/replicas';
import { LIMITS } from '../constants';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { Operation, type ForwardRequest, type ForwardResponse } from '../gen/pastry/v1/peer';
import type { Key } from '../gen/pastry/v1/dht';
import { keyFromBytes } from '../rpc/codec';
import { throwIfError, type Delivery, type Overlay } from '../overlay/overlay';
import type { StoredObject } from '../store/store';
import { guidForContent, guidForName, sha256 } from './guid';
import type { ReplicaStore } from './replica-store';
import { SupersededError, type Replication, type WriteOutcome } from './replication';

export interface DhtConfig {
  maxValueBytes: number;
  replicas: number;
}

export interface Routed {
  guid: Id;
  response: ForwardResponse;
}

const EMPTY = Buffer.alloc(0);

/** Writes of one put or remove when replicas keep reporting newer versions. */
const SUPERSEDED_RETRIES = 3;

/**
 * The DHT on the overlay: client operations are routed towards the key's root, which
 * coordinates the k replicas; a read is answered by the first node on the route holding one.
 */
export class Dht {
  private leaving = false;
  private lastVersion = 0;

  constructor(
    private readonly overlay: Overlay,
    private readonly local: ReplicaStore,
    private readonly replication: Replication,
    private readonly config: DhtConfig,
    private readonly clock: { now(): number },
  ) {
    overlay.setDeliver(
      (req, deadline) => this.serve(req, deadline),
      (req) => this.serveOnRoute(req),
    );
  }

  /** A node shutting down accepts no new writes; clients retry through another node. */
  stopAcceptingWrites(): void {
    this.leaving = true;
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
    const routed = await this.routeOp(guid, Operation.OPERATION_GET, EMPTY, false, deadline, metadata);
    if (!routed.response.found) throw new NotFoundError(`no object with GUID ${guid}`);
    return routed;
  }

  async remove(key: Key | undefined, deadline: number, metadata?: Metadata): Promise<Routed> {
    return this.routeOp(resolveKey(key), Operation.OPERATION_REMOVE, EMPTY, false, deadline, metadata);
  }

  async route(key: Key | undefined, deadline: number, metadata?: Metadata): Promise<Routed> {
    return this.routeOp(resolveKey(key), Operation.OPERATION_ROUTE, EMPTY, false, deadline, metadata);
  }

  private async routeOp(guid: Id, operation: Operation, value: Buffer, contentAddressed: boolean, deadline: number, metadata?: Metadata): Promise<Routed> {
    if (this.leaving && (operation === Operation.OPERATION_PUT || operation === Operation.OPERATION_REMOVE)) {
      throw new UnavailableError('this node is leaving the ring; send writes to another node');
    }
    const request: ForwardRequest = { key: idToBytes(guid), operation, value, hops: [], contentAddressed };
    const response = throwIfError(await this.overlay.route(request, deadline, metadata));
    return { guid, response };
  }

  /** On the route, before the root: a node holding an intact replica answers a read. */
  private async serveOnRoute(req: ForwardRequest): Promise<Delivery | undefined> {
    if (req.operation !== Operation.OPERATION_GET || !this.local.healthy()) return undefined;
    const guid = keyFromBytes(req.key);
    if (!isReplica(this.overlay.state, guid, this.config.replicas)) return undefined;
    const { object } = await this.local.read(guid);
    if (!object || object.tombstone) return undefined;
    return { found: true, value: object.value, acknowledged: 0, version: object.version };
  }

  /** At the root: the operation, coordinated across the replicas. */
  async serve(req: ForwardRequest, deadline: number): Promise<Delivery> {
    const guid = keyFromBytes(req.key);
    switch (req.operation) {
      case Operation.OPERATION_ROUTE:
        return { found: false, value: EMPTY, acknowledged: 0, version: 0 };
      case Operation.OPERATION_PUT:
        return this.coordinatePut(guid, req, deadline);
      case Operation.OPERATION_GET:
        return this.coordinateGet(guid, deadline);
      case Operation.OPERATION_REMOVE:
        return this.coordinateRemove(guid, deadline);
      default:
        throw new InvalidArgumentError(`unknown operation ${req.operation}`);
    }
  }

  /** The local copy, or undefined when absent, corrupt, or the store is down. */
  private async localCopy(guid: Id): Promise<StoredObject | undefined> {
    try {
      return (await this.local.read(guid)).object;
    } catch {
      return undefined;
    }
  }

  /**
   * Versions only grow: at least the clock, above the root's copy, above a version replicas
   * reported newer (`floor`), and above every version this node issued before, so that two
   * writes coordinated here in the same millisecond never share a (version, writer).
   */
  private nextVersion(previous: StoredObject | undefined, floor = 0): number {
    this.lastVersion = Math.max(this.clock.now(), (previous?.version ?? 0) + 1, floor + 1, this.lastVersion + 1);
    return this.lastVersion;
  }

  /**
   * Writes what `make(floor)` builds; when replicas kept a newer version (an earlier root's
   * clock ran ahead of ours), builds it again above that version and writes again.
   */
  private async writeAbove(make: (floor: number) => StoredObject, deadline: number): Promise<{ object: StoredObject; outcome: WriteOutcome }> {
    let floor = 0;
    for (let attempt = 1; ; attempt++) {
      const object = make(floor);
      try {
        return { object, outcome: await this.replication.write(object, deadline) };
      } catch (error) {
        if (!(error instanceof SupersededError) || attempt >= SUPERSEDED_RETRIES) throw error;
        floor = error.newerVersion;
      }
    }
  }

  private async coordinatePut(guid: Id, req: ForwardRequest, deadline: number): Promise<Delivery> {
    this.checkValue(req.value);
    const hash = sha256(req.value).toString('hex');
    if (req.contentAddressed && hash.slice(0, 32) !== guid) {
      throw new InvalidArgumentError('content-addressed GUID does not match SHA-256 of the value');
    }
    const previous = await this.localCopy(guid);
    // Content-addressed objects are immutable: the same bytes keep their version.
    const unchanged = req.contentAddressed && previous && !previous.tombstone && previous.hash === hash;
    const value = Buffer.from(req.value);
    const { object, outcome } = await this.writeAbove(
      (floor) =>
        unchanged && floor === 0
          ? previous
          : {
              guid,
              value,
              version: this.nextVersion(previous, floor),
              writer: this.overlay.self.id,
              hash,
              size: req.value.length,
              createdAt: this.clock.now(),
              tombstone: false,
              contentAddressed: req.contentAddressed,
            },
      deadline,
    );
    return { found: outcome.replacedLive, value: EMPTY, acknowledged: outcome.acknowledged, version: object.version };
  }

  private async coordinateGet(guid: Id, deadline: number): Promise<Delivery> {
    const local = await this.localCopy(guid);
    if (local && !local.tombstone) return { found: true, value: local.value, acknowledged: 0, version: local.version };
    const newest = await this.replication.readFromReplicas(guid, local, deadline);
    if (!newest || newest.tombstone) return { found: false, value: EMPTY, acknowledged: 0, version: newest?.version ?? 0 };
    return { found: true, value: newest.value, acknowledged: 0, version: newest.version };
  }

  private async coordinateRemove(guid: Id, deadline: number): Promise<Delivery> {
    const previous = await this.localCopy(guid);
    const { object: tombstone, outcome } = await this.writeAbove(
      (floor) => ({
        guid,
        value: EMPTY,
        version: this.nextVersion(previous, floor),
        writer: this.overlay.self.id,
        hash: sha256(EMPTY).toString('hex'),
        size: 0,
        createdAt: this.clock.now(),
        tombstone: true,
        contentAddressed: false,
      }),
      deadline,
    );
    const found = outcome.replacedLive || (previous !== undefined && !previous.tombstone);
    return { found, value: EMPTY, acknowledged: outcome.acknowledged, version: tombstone.version };
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

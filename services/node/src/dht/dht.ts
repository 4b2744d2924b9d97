import { type Id } from '../core/id';
import type { NodeHandle } from '../core/node-handle';
import { LIMITS } from '../constants';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { DhtOperation, DhtRouted, DhtRoutedReply } from '../gen/pastry/v1/dht_peer';
import type { Key } from '../gen/pastry/v1/dht';
import type { NodeInfo } from '../gen/pastry/v1/common';
import type { Application, Endpoint, ForwardDecision, RoutedMessage } from '../overlay/common-api';
import { keyFromBytes, toNodeInfo } from '../overlay/codec';
import type { StoredObject } from '../store/store';
import { guidForContent, guidForName, sha256 } from './guid';
import { DHT_APP } from './peer-messages';
import type { ReplicaStore } from './replica-store';
import { SupersededError, type Replication, type WriteOutcome } from './replication';

export interface DhtConfig {
  maxValueBytes: number;
  replicas: number;
}

/** The outcome of an operation at the node that serves it. */
export interface Delivery {
  found: boolean;
  value: Buffer;
  /** Replicas that confirmed a write. */
  acknowledged: number;
  version: number;
}

export interface Routed {
  guid: Id;
  response: Delivery & { root: NodeInfo; hops: NodeInfo[] };
}

const EMPTY = Buffer.alloc(0);

/** Writes of one put or remove when replicas keep reporting newer versions. */
const SUPERSEDED_RETRIES = 3;

/** Registers an application on a node's overlay. */
export interface AppHost {
  register(app: Application): Endpoint;
}

/**
 * The DHT, an application on the overlay's common API: client operations are routed towards
 * the key's root, which coordinates the k replicas; a read is answered by the first node on
 * the route holding one (the `forward` upcall).
 */
export class Dht implements Application {
  readonly id = DHT_APP;
  private leaving = false;
  private lastVersion = 0;
  private replication!: Replication;
  private local!: ReplicaStore;
  private receiver: ((from: NodeHandle, payload: Buffer) => Promise<Buffer>) | undefined;

  constructor(
    readonly endpoint: Endpoint,
    private readonly config: DhtConfig,
  ) {}

  /** The parts that need the endpoint first: the node wires them in. */
  attach(local: ReplicaStore, replication: Replication, receive: (from: NodeHandle, payload: Buffer) => Promise<Buffer>): void {
    this.local = local;
    this.replication = replication;
    this.receiver = receive;
  }

  private get clock(): { now(): number } {
    return this.endpoint;
  }

  /** A node shutting down accepts no new writes; clients retry through another node. */
  stopAcceptingWrites(): void {
    this.leaving = true;
  }

  async put(name: string, value: Buffer, deadline: number, context?: unknown): Promise<Routed> {
    this.checkValue(value);
    if (Buffer.byteLength(name) > LIMITS.maxNameBytes) throw new InvalidArgumentError(`name is longer than ${LIMITS.maxNameBytes} bytes`);
    const contentAddressed = name === '';
    const guid = contentAddressed ? guidForContent(value) : guidForName(name);
    return this.routeOp(guid, DhtOperation.DHT_OPERATION_PUT, value, contentAddressed, deadline, context);
  }

  async get(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    const guid = resolveKey(key);
    const routed = await this.routeOp(guid, DhtOperation.DHT_OPERATION_GET, EMPTY, false, deadline, context);
    if (!routed.response.found) throw new NotFoundError(`no object with GUID ${guid}`);
    return routed;
  }

  async remove(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    return this.routeOp(resolveKey(key), DhtOperation.DHT_OPERATION_REMOVE, EMPTY, false, deadline, context);
  }

  async route(key: Key | undefined, deadline: number, context?: unknown): Promise<Routed> {
    return this.routeOp(resolveKey(key), DhtOperation.DHT_OPERATION_ROUTE, EMPTY, false, deadline, context);
  }

  private async routeOp(guid: Id, operation: DhtOperation, value: Buffer, contentAddressed: boolean, deadline: number, context?: unknown): Promise<Routed> {
    if (this.leaving && (operation === DhtOperation.DHT_OPERATION_PUT || operation === DhtOperation.DHT_OPERATION_REMOVE)) {
      throw new UnavailableError('this node is leaving the ring; send writes to another node');
    }
    const payload = Buffer.from(DhtRouted.encode({ operation, value, contentAddressed }).finish());
    const result = await this.endpoint.route(guid, payload, { deadline, context });
    const reply = DhtRoutedReply.decode(result.reply);
    return {
      guid,
      response: { found: reply.found, value: Buffer.from(reply.value), acknowledged: reply.acknowledged, version: Number(reply.version), root: toNodeInfo(result.root), hops: result.hops.map(toNodeInfo) },
    };
  }

  /** On the route, before the root: a node holding an intact replica answers a read. */
  async forward(message: RoutedMessage, next: NodeHandle | undefined): Promise<ForwardDecision> {
    if (next === undefined || !this.local.healthy()) return { action: 'continue' };
    const req = decodeRouted(message.payload);
    if (req.operation !== DhtOperation.DHT_OPERATION_GET) return { action: 'continue' };
    if (!this.endpoint.replicaSet(message.key, this.config.replicas).some((n) => n.id === this.endpoint.self.id)) return { action: 'continue' };
    const { object } = await this.local.read(message.key);
    if (!object || object.tombstone) return { action: 'continue' };
    return { action: 'answer', reply: encodeDelivery({ found: true, value: object.value, acknowledged: 0, version: object.version }) };
  }

  async deliver(message: RoutedMessage): Promise<Buffer> {
    return encodeDelivery(await this.serve(message.key, decodeRouted(message.payload), message.deadline));
  }

  receive(from: NodeHandle, payload: Buffer): Promise<Buffer> {
    if (!this.receiver) throw new UnavailableError('the DHT is not started');
    return this.receiver(from, payload);
  }

  /** At the root: the operation, coordinated across the replicas. */
  async serve(guid: Id, req: DhtRouted, deadline: number): Promise<Delivery> {
    switch (req.operation) {
      case DhtOperation.DHT_OPERATION_ROUTE:
        return { found: false, value: EMPTY, acknowledged: 0, version: 0 };
      case DhtOperation.DHT_OPERATION_PUT:
        return this.coordinatePut(guid, req, deadline);
      case DhtOperation.DHT_OPERATION_GET:
        return this.coordinateGet(guid, deadline);
      case DhtOperation.DHT_OPERATION_REMOVE:
        return this.coordinateRemove(guid, deadline);
      default:
        throw new InvalidArgumentError(`unknown operation ${req.operation}`);
    }
  }

  /** The local copy, or undefined when absent, corrupt, or the store is down. */
  private async localCopy(guid: Id): Promise<StoredObject | undefined> {
    return (await this.localRead(guid)).object;
  }

  /** This node's copy, and whether its store answered at all. */
  private async localRead(guid: Id): Promise<{ object: StoredObject | undefined; ok: boolean }> {
    try {
      return { object: (await this.local.read(guid)).object, ok: true };
    } catch {
      return { object: undefined, ok: false };
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

  private async coordinatePut(guid: Id, req: DhtRouted, deadline: number): Promise<Delivery> {
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
              writer: this.endpoint.self.id,
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
    const { object: local, ok: localOk } = await this.localRead(guid);
    if (local && !local.tombstone) return { found: true, value: local.value, acknowledged: 0, version: local.version };
    const { newest, answered, needed } = await this.replication.readFromReplicas(guid, local, deadline);
    if (newest && !newest.tombstone) return { found: true, value: newest.value, acknowledged: 0, version: newest.version };
    // Replicas that did not answer may hold it: that is not an absence, and never a NOT_FOUND.
    const heard = answered + (localOk ? 1 : 0);
    if (heard < needed) throw new UnavailableError(`only ${heard} of the ${needed} replicas needed to tell that ${guid} is absent answered; try again`);
    return { found: false, value: EMPTY, acknowledged: 0, version: newest?.version ?? 0 };
  }

  private async coordinateRemove(guid: Id, deadline: number): Promise<Delivery> {
    const previous = await this.localCopy(guid);
    const { object: tombstone, outcome } = await this.writeAbove(
      (floor) => ({
        guid,
        value: EMPTY,
        version: this.nextVersion(previous, floor),
        writer: this.endpoint.self.id,
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

function decodeRouted(payload: Buffer): DhtRouted {
  try {
    return DhtRouted.decode(payload);
  } catch (error) {
    throw new InvalidArgumentError(`malformed DHT operation: ${(error as Error).message}`);
  }
}

function encodeDelivery(d: Delivery): Buffer {
  return Buffer.from(DhtRoutedReply.encode({ found: d.found, value: d.value, acknowledged: d.acknowledged, version: d.version }).finish());
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

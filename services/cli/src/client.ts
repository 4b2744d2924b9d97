import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { idFromBytes, isId } from '../../node/src/core/id';
import type { NodeInfo } from '../../node/src/gen/pastry/v1/common';
import {
  DhtClient,
  type GetResponse,
  type Key,
  type PutResponse,
  type RemoveResponse,
  type RouteResponse,
  type StatusResponse,
} from '../../node/src/gen/pastry/v1/dht';

/** A node as the CLI prints it. */
export interface NodeView {
  name: string;
  id: string;
  address: string;
}

export function nodeView(info: NodeInfo | undefined): NodeView {
  if (!info) return { name: '', id: '', address: '' };
  return { name: info.name, id: info.id.length === 16 ? idFromBytes(info.id) : '', address: info.address };
}

/** A 32-hex-digit argument is a GUID; anything else a name. */
export function keyFor(arg: string): Key {
  return isId(arg.toLowerCase()) ? { guid: Buffer.from(arg, 'hex'), name: '' } : { guid: Buffer.alloc(0), name: arg };
}

export class ClientError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const CODE_NAMES = Object.fromEntries(Object.entries(status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k]));

/** A small client of the public Dht API with a deadline on every call. */
export class PastryClient {
  private readonly client: DhtClient;

  constructor(
    readonly target: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.client = new DhtClient(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  }

  close(): void {
    this.client.close();
  }

  put(name: string, value: Buffer): Promise<PutResponse> {
    return this.call<PutResponse>((cb) => this.client.put({ name, value }, new Metadata(), this.options(), cb));
  }

  get(key: string): Promise<GetResponse> {
    return this.call<GetResponse>((cb) => this.client.get({ key: keyFor(key) }, new Metadata(), this.options(), cb));
  }

  remove(key: string): Promise<RemoveResponse> {
    return this.call<RemoveResponse>((cb) => this.client.remove({ key: keyFor(key) }, new Metadata(), this.options(), cb));
  }

  route(key: string, metadata = new Metadata()): Promise<RouteResponse> {
    return this.call<RouteResponse>((cb) => this.client.route({ key: keyFor(key) }, metadata, this.options(), cb));
  }

  status(timeoutMs = this.timeoutMs): Promise<StatusResponse> {
    return this.call<StatusResponse>((cb) => this.client.status({}, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, cb));
  }

  private options() {
    return { deadline: new Date(Date.now() + this.timeoutMs) };
  }

  private call<T>(start: (cb: (err: ServiceError | null, res: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      start((err, res) => {
        if (err) reject(new ClientError(`${this.target}: ${CODE_NAMES[err.code] ?? err.code}: ${err.details || err.message}`, err.code));
        else resolve(res);
      });
    });
  }
}

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
import { unaryCall, type UnaryCallOptions, type UnaryMethod } from '../../node/src/rpc/unary-call';

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
    return this.call(this.client.put.bind(this.client), { name, value });
  }

  get(key: string): Promise<GetResponse> {
    return this.call(this.client.get.bind(this.client), { key: keyFor(key) });
  }

  remove(key: string): Promise<RemoveResponse> {
    return this.call(this.client.remove.bind(this.client), { key: keyFor(key) });
  }

  route(key: string, metadata = new Metadata()): Promise<RouteResponse> {
    return this.call(this.client.route.bind(this.client), { key: keyFor(key) }, { metadata });
  }

  status(timeoutMs = this.timeoutMs): Promise<StatusResponse> {
    return this.call(this.client.status.bind(this.client), {}, { deadline: Date.now() + timeoutMs });
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: Partial<UnaryCallOptions> = {}): Promise<Res> {
    return unaryCall(method, request, { deadline: Date.now() + this.timeoutMs, ...options }).catch((err: ServiceError) => {
      throw clientError(this.target, err);
    });
  }
}

/** A failed call as the CLI reports it: "<target>: NOT_FOUND: <details>". */
export function clientError(target: string, err: ServiceError): ClientError {
  return new ClientError(`${target}: ${CODE_NAMES[err.code] ?? err.code}: ${err.details || err.message}`, err.code);
}

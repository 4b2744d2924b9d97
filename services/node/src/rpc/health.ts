import { status as grpcStatus, type Server, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { toBuffer } from './wire';

/** grpc.health.v1.HealthCheckResponse.ServingStatus, by name. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

interface CheckRequest {
  service: string;
}

function decodeRequest(bytes: Buffer): CheckRequest {
  const reader = new BinaryReader(bytes);
  let service = '';
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) service = reader.string();
    else reader.skip(tag & 7);
  }
  return { service };
}

const encodeResponse = (s: ServingStatus): Buffer => toBuffer(new BinaryWriter().uint32(8).int32(STATUS_NUMBER[s]).finish());

const method = (name: string, responseStream: boolean) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: (r: CheckRequest) => toBuffer(new BinaryWriter().uint32(10).string(r.service).finish()),
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: (bytes: Buffer) => bytes,
});

/** The service definition of grpc.health.v1.Health (proto/third_party/grpc/health/v1/health.proto). */
export const HEALTH_SERVICE = { Check: method('Check', false), Watch: method('Watch', true) } as unknown as ServiceDefinition;

/**
 * The standard gRPC health service (Check and Watch, as kubelet, grpcurl and grpc-health-probe
 * use them), with a hand-written codec for its two one-field messages: grpc-health-check parses
 * health.proto with protobufjs when it loads, a tenth of a node's start-up CPU.
 */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [service, s] of Object.entries(initial)) this.statuses.set(service, s);
  }

  setStatus(service: string, s: ServingStatus): void {
    this.statuses.set(service, s);
    for (const watcher of this.watchers.get(service) ?? []) watcher(s);
  }

  addToServer(server: Server): void {
    server.addService(HEALTH_SERVICE, {
      Check: (call: ServerUnaryCall<CheckRequest, ServingStatus>, callback: sendUnaryData<ServingStatus>) => {
        const s = this.statuses.get(call.request.service);
        if (s) callback(null, s);
        else callback({ code: grpcStatus.NOT_FOUND, details: `Health status unknown for service ${call.request.service}` });
      },
      Watch: (call: ServerWritableStream<CheckRequest, ServingStatus>) => {
        const service = call.request.service;
        const watcher = (s: ServingStatus): void => void call.write(s);
        let set = this.watchers.get(service);
        if (!set) this.watchers.set(service, (set = new Set()));
        set.add(watcher);
        call.on('cancelled', () => {
          set.delete(watcher);
          if (set.size === 0 && this.watchers.get(service) === set) this.watchers.delete(service);
        });
        call.write(this.statuses.get(service) ?? 'SERVICE_UNKNOWN');
      },
    });
  }
}

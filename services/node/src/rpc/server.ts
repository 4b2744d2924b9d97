import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { LIMITS } from '../constants';
import { DhtService, type DhtServer } from '../gen/pastry/v1/dht';
import { FilesService, type FilesServer } from '../gen/pastry/v1/files';
import { MessagingService, type MessagingServer } from '../gen/pastry/v1/messaging';
import { ComputeService, type ComputeServer } from '../gen/pastry/v1/compute';
import { PeerService, type PeerServer } from '../gen/pastry/v1/peer';
import { tolerantDefinition } from './malformed';
import { HealthService } from './health';
import { addLazyReflection } from './reflection';
import { FRAME_MAGIC, FrameServer } from '../transport/frames';

/** Health service names: '' and the API report readiness; 'liveness' only that the process runs. */
export const HEALTH_READY_SERVICES = ['', 'pastry.v1.Dht', 'pastry.v1.Files', 'pastry.v1.Messaging', 'pastry.v1.Compute'];
export const HEALTH_LIVENESS_SERVICE = 'liveness';

export class RpcServer {
  readonly server: Server;
  readonly health = new HealthService({ '': 'NOT_SERVING', 'pastry.v1.Dht': 'NOT_SERVING', 'pastry.v1.Files': 'NOT_SERVING', 'pastry.v1.Messaging': 'NOT_SERVING', 'pastry.v1.Compute': 'NOT_SERVING', liveness: 'SERVING' });

  /**
   * The framed peer transport's server, and the listener that tells its connections from
   * gRPC's. Every node serves both, whichever its own calls use, so a ring can change
   * PASTRY_PEER_TRANSPORT one pod at a time.
   */
  private readonly frames = new FrameServer();
  private listener: net.Server | undefined;

  constructor(dht: DhtServer, peer: PeerServer, files: FilesServer, messaging: MessagingServer, compute: ComputeServer) {
    this.server = new Server({
      'grpc.max_receive_message_length': LIMITS.maxGrpcMessageBytes,
      'grpc.max_send_message_length': LIMITS.maxGrpcMessageBytes,
    });
    // Undecodable requests reach the handlers as a marker and are answered INVALID_ARGUMENT.
    this.server.addService(tolerantDefinition(DhtService), dht);
    this.server.addService(tolerantDefinition(PeerService), peer);
    this.frames.addService(tolerantDefinition(PeerService), peer);
    this.server.addService(tolerantDefinition(FilesService), files);
    this.server.addService(tolerantDefinition(MessagingService), messaging);
    this.server.addService(tolerantDefinition(ComputeService), compute);
    this.health.addToServer(this.server);
    const root = protoRoot();
    addLazyReflection(this.server, () => {
      const { loadSync } = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
      return loadSync(protoFiles(), { includeDirs: [root, path.join(root, 'third_party')] });
    });
  }

  setReady(ready: boolean): void {
    for (const s of HEALTH_READY_SERVICES) this.health.setStatus(s, ready ? 'SERVING' : 'NOT_SERVING');
  }

  /** Binds host:port; returns the bound port (useful with port 0). */
  /**
   * Binds host:port and returns the bound port (useful with port 0). One port for both
   * transports: a connection whose first bytes are FRAME_MAGIC is a framed peer connection,
   * any other goes to gRPC (grpc-js's connection injector) with its bytes.
   */
  bind(host: string, port: number): Promise<number> {
    const frames = this.frames;
    const injector = this.server.createConnectionInjector(ServerCredentials.createInsecure());
    const listener = net.createServer((socket) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const n = Math.min(head.length, FRAME_MAGIC.length);
        if (!head.subarray(0, n).equals(FRAME_MAGIC.subarray(0, n))) {
          socket.off('data', onData);
          socket.pause();
          socket.unshift(head);
          injector.injectConnection(socket);
          return;
        }
        if (head.length < FRAME_MAGIC.length) return;
        socket.off('data', onData);
        frames.accept(socket, head.subarray(FRAME_MAGIC.length));
      };
      socket.on('data', onData);
      socket.on('error', () => undefined);
    });
    this.listener = listener;
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host, port }, () => resolve((listener.address() as net.AddressInfo).port));
    });
  }

  stop(graceMs: number): Promise<void> {
    this.listener?.close();
    this.frames.close();
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** The proto directory ships next to the code (repository root or image). */
export function protoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, 'pastry/v1/dht.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('proto/pastry/v1/dht.proto not found above ' + __dirname);
}

function protoFiles(): string[] {
  return ['pastry/v1/dht.proto', 'pastry/v1/files.proto', 'pastry/v1/messaging.proto', 'pastry/v1/compute.proto', 'pastry/v1/peer.proto', 'grpc/health/v1/health.proto'];
}

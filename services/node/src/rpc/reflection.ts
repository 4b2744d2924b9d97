import type { Server, ServiceDefinition, UntypedServiceImplementation, handleBidiStreamingCall } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';

const SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
const METHOD = 'ServerReflectionInfo';

interface Built {
  definitions: Map<string, ServiceDefinition>;
  handlers: Map<string, UntypedServiceImplementation>;
}

/**
 * Server reflection (v1 and v1alpha) whose descriptors are parsed on the first reflection call
 * instead of at start: parsing the protos and building @grpc/reflection's index is about a
 * fifth of a node's start-up CPU, and most nodes are never asked. The services are on the
 * server from the start, with the same paths; serializers and handlers come from
 * @grpc/reflection itself once built.
 */
export function addLazyReflection(server: Server, packageDefinition: () => PackageDefinition): void {
  let built: Built | undefined;
  const build = (): Built => {
    if (built) return built;
    const { ReflectionService } = require('@grpc/reflection') as typeof import('@grpc/reflection');
    const definitions = new Map<string, ServiceDefinition>();
    const handlers = new Map<string, UntypedServiceImplementation>();
    const capture = {
      addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
        const path = (definition[METHOD] as { path: string }).path;
        const service = path.split('/')[1]!;
        definitions.set(service, definition);
        handlers.set(service, implementation);
      },
    };
    new ReflectionService(packageDefinition()).addToServer(capture as unknown as Server);
    built = { definitions, handlers };
    return built;
  };
  for (const service of SERVICES) {
    const method = () => build().definitions.get(service)![METHOD]!;
    const definition: ServiceDefinition = {
      [METHOD]: {
        path: `/${service}/${METHOD}`,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: unknown) => method().requestSerialize(value),
        requestDeserialize: (bytes: Buffer) => method().requestDeserialize(bytes),
        responseSerialize: (value: unknown) => method().responseSerialize(value),
        responseDeserialize: (bytes: Buffer) => method().responseDeserialize(bytes),
      },
    };
    const handler: handleBidiStreamingCall<unknown, unknown> = (call) => (build().handlers.get(service)![METHOD] as handleBidiStreamingCall<unknown, unknown>)(call);
    server.addService(definition, { [METHOD]: handler });
  }
}

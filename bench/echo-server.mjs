/**
 * The floor: a bare grpc-js unary echo service in its own process (as a node is), with a
 * generic service definition (raw bytes in, the same bytes out: no protobuf work at all).
 * Prints `listening <host:port>` once bound; exits on SIGTERM or when its parent goes away.
 *
 *   node bench/echo-server.mjs 127.0.41.2
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');

export const ECHO_SERVICE = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  },
};

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const host = process.argv[2] ?? '127.0.0.1';
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, { echo: (call, callback) => callback(null, call.request) });
  server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      process.stderr.write(`echo-server: ${error.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`listening ${host}:${port}\n`);
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', () => process.exit(0));
}

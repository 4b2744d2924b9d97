// Runs after tsc: bundles the node (dist/services/node/src/main.js and every module it loads,
// its npm dependencies included) into one file beside it, which start.js loads through V8's
// code cache. A node process then resolves no modules and, from its second start on a
// machine, compiles almost nothing: most of what a node spent starting (README, Performance).
// Whitespace is minified (names are kept): a smaller, ASCII-only file reads and loads faster.
// A stack trace with the lines of dist/: run main.js instead of start.js.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, '..', '..', '..', 'dist', 'services', 'node', 'src');
const outfile = path.join(src, 'node.bundle.js');
const result = await build({
  entryPoints: [path.join(src, 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  charset: 'ascii',
  // Read files next to their own code at run time (reflection's .proto files), and are loaded
  // only on the first reflection call: they stay in node_modules. (grpc-js reads .proto files
  // the same way for channelz and ORCA load reports, which the node does not use.)
  // The tracing SDK and exporters load only when tracing is on, and the OTLP exporters use
  // import(), which a script run from a code cache cannot do on Node 20 (the cached script
  // loses its import callback): they stay in node_modules too.
  external: [
    '@grpc/reflection',
    '@grpc/proto-loader',
    '@opentelemetry/sdk-trace-node',
    '@opentelemetry/sdk-trace-base',
    '@opentelemetry/resources',
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/otlp-exporter-base',
  ],
  // Warnings fail the build: a dependency the bundle cannot resolve would fail at run time.
  logLevel: 'warning',
});
if (result.warnings.length > 0 || result.errors.length > 0) process.exit(1);
// start.js reads it as Latin-1, which is exact only for ASCII.
const bytes = readFileSync(outfile);
const at = bytes.findIndex((b) => b > 0x7f);
if (at >= 0) {
  console.error(`bundle: ${outfile} has a non-ASCII byte at offset ${at}`);
  process.exit(1);
}
// A dynamic import() would fail once the code cache is in use: keep its package external.
const dynamic = /(?<![\w$.])import\(/.exec(bytes.toString('latin1'));
if (dynamic) {
  console.error(`bundle: ${outfile} has a dynamic import() at offset ${dynamic.index}: mark its package external in ${path.basename(fileURLToPath(import.meta.url))}`);
  process.exit(1);
}

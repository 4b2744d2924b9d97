/** The compiled project modules the benchmark drives (make build). */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const CLI = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'dist/services/cli/src');

/** The compiled CLI modules; a clear message when they are missing. */
export function loadBuild() {
  try {
    return { cluster: require(path.join(CLI, 'cluster.js')), client: require(path.join(CLI, 'client.js')) };
  } catch (error) {
    throw new Error(`cannot load the build in ${CLI} (run \`make build\` first): ${error.message}`);
  }
}

import { runSimCommand } from './cli';

/** Standalone entry: `node dist/services/sim/src/main.js hops --nodes 1000 --json`. */
runSimCommand(process.argv.slice(2), (line) => process.stdout.write(line + '\n')).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

import { describeFlags, parseFlags, UsageError } from './args';
import { COMMANDS, HeapTooSmall } from './commands';

/**
 * `pastry sim <experiment> [flags]`: runs one simulator experiment and prints a table of our
 * figures beside the Pastry paper's, or one JSON object with --json. Returns the exit code:
 * 0 on success, 2 on bad arguments, 1 when the run itself fails.
 */
export async function runSimCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    help(rest[0], out);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown experiment ${JSON.stringify(name)}; one of: ${Object.keys(COMMANDS).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      help(name, out);
      return 0;
    }
    await command.run(parseFlags(rest, command.flags), out);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof HeapTooSmall || error instanceof RangeError || isFileError(error)) {
      out(`error: ${messageOf(error)}`);
      out(`see: pastry sim help${command ? ` ${name}` : ''}`);
      return 2;
    }
    out(`error: simulation failed: ${messageOf(error)}`);
    return 1;
  }
}

function help(topic: string | undefined, out: (line: string) => void): void {
  const command = topic === undefined ? undefined : COMMANDS[topic];
  if (command) {
    out(`pastry sim ${topic} [flags]: ${command.summary}`);
    describeFlags(command.flags).forEach((l) => out(l));
    return;
  }
  out('pastry sim <experiment> [flags]: deterministic Pastry simulations (b=4, |L|=16, |M|=32)');
  out('experiments:');
  for (const [name, c] of Object.entries(COMMANDS)) out(`  ${name.padEnd(10)} ${c.summary}`);
  out('pastry sim help <experiment> lists its flags; --json prints one JSON object.');
}

/** A failed file read (the --matrix-file). Duck-typed: fs errors may come from another realm. */
function isFileError(error: unknown): boolean {
  const e = error as Partial<NodeJS.ErrnoException> | null;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.syscall === 'string';
}

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

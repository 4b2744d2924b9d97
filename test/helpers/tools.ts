import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Finds a tool on PATH or in Go's bin directory (where `go install` puts it). */
export function findTool(name: string): string {
  const dirs = (process.env.PATH ?? '').split(path.delimiter);
  try {
    dirs.push(path.join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin'));
  } catch {
    // No Go: only PATH.
  }
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found: run \`make test-deps\` (test/setup/ensure-test-tools.sh) first`);
}

export const CLI = path.resolve(__dirname, '../../dist/services/cli/src/main.js');

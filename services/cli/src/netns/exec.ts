import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** sbin directories too: a non-login root shell may lack them on PATH. */
const SEARCH = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

export function which(tool: string): string | undefined {
  for (const dir of SEARCH) if (dir && existsSync(path.join(dir, tool))) return path.join(dir, tool);
  return undefined;
}

/** Runs a tool and returns its stdout; a failure names the command and its stderr. */
export function run(tool: string, args: string[], options: { ignoreFailure?: boolean; timeoutMs?: number } = {}): string {
  const file = which(tool) ?? tool;
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 15_000 });
  } catch (error) {
    if (options.ignoreFailure) return '';
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`\`${tool} ${args.join(' ')}\` failed: ${stderr || (error as Error).message}`);
  }
}

/** Whether the command succeeds (for probes: does this chain / namespace exist?). */
export function succeeds(tool: string, args: string[]): boolean {
  try {
    execFileSync(which(tool) ?? tool, args, { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

/** iptables in a namespace (or the host's, without one); -w waits for the xtables lock. */
export function iptables(ns: string | undefined, args: string[], options: { ignoreFailure?: boolean } = {}): string {
  return ns ? run('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args], options) : run('iptables', ['-w', ...args], options);
}

export function iptablesSucceeds(ns: string | undefined, args: string[]): boolean {
  return ns ? succeeds('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args]) : succeeds('iptables', ['-w', ...args]);
}

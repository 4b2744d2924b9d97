/** What the TypeScript benchmarks read of a process from /proc (Linux). */
import { readFileSync } from 'node:fs';

/**
 * utime + stime of a process (all its threads), in seconds (USER_HZ = 100). Once the process
 * is gone: `ifGone` when given, else the read's error.
 */
export function cpuSecondsOf(pid: number, ifGone?: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch (error) {
    if (ifGone === undefined) throw error;
    return ifGone;
  }
}

/** Resident memory (VmRSS) of a process in bytes; once it is gone, as cpuSecondsOf. */
export function rssBytesOf(pid: number, ifGone?: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for process ${pid}`);
    return Number(m[1]) * 1024;
  } catch (error) {
    if (ifGone === undefined) throw error;
    return ifGone;
  }
}

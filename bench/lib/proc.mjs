/** Process helpers: resident memory of a pid, liveness, waiting for exit. */
import { readFileSync } from 'node:fs';
import { loadBuild } from './build.mjs';

/** VmRSS of a process in MiB, or NaN when it cannot be read. */
export function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// The pods' own liveness check, which also tells a zombie from a live process.
export const { isRunning, waitForExit } = loadBuild().cluster;

export function killQuietly(pid, signal = 'SIGKILL') {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** CPU seconds (user + system) a process has used so far, or NaN. */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Freezes (SIGSTOP) or thaws (SIGCONT) processes, so that idle systems leave the CPU alone. */
export function signalAll(pids, signal) {
  for (const pid of pids) killQuietly(pid, signal);
}

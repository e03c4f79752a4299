/**
 * Time and CPU readings that mean the same thing in every worker thread.
 */
import { readFileSync } from 'node:fs';

/**
 * Milliseconds on the process-wide monotonic clock. Unlike performance.now(),
 * whose origin is per thread, this is comparable across worker threads, so a
 * time stamped by a writer thread can be subtracted from one read by a
 * watcher thread.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Linux reports /proc stat times in clock ticks; USER_HZ is 100 on every mainstream kernel. */
const clockTicksPerSecond = 100;

/**
 * CPU time consumed by the calling thread, in seconds (Linux only; undefined
 * elsewhere). /proc/thread-self resolves to the calling thread's task entry,
 * and a synchronous read runs on the calling thread, so in a worker this is
 * that worker's own CPU, not the process's.
 */
export function threadCpuSeconds(): number | undefined {
  try {
    // schedstat: "<on-cpu ns> <waiting ns> <timeslices>", nanosecond precision.
    const fields = readFileSync('/proc/thread-self/schedstat', 'latin1').trim().split(/\s+/);
    const onCpuNs = Number(fields[0]);
    if (Number.isFinite(onCpuNs)) return onCpuNs / 1e9;
  } catch {
    // Kernels without schedstats: fall back to stat's tick counts.
  }
  try {
    return cpuSecondsFromStat(readFileSync('/proc/thread-self/stat', 'latin1'));
  } catch {
    return undefined;
  }
}

/** utime + stime of a /proc/<pid>/stat line, in seconds. */
export function cpuSecondsFromStat(statLine: string): number | undefined {
  // The command name (field 2) is parenthesised and may hold spaces; count fields after its closing paren.
  const afterName = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at field 3 (state); utime is field 14, stime field 15.
  const utimeTicks = Number(afterName[14 - 3]);
  const stimeTicks = Number(afterName[15 - 3]);
  if (!Number.isFinite(utimeTicks) || !Number.isFinite(stimeTicks)) return undefined;
  return (utimeTicks + stimeTicks) / clockTicksPerSecond;
}

export function sleepMs(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, durationMs)));
}

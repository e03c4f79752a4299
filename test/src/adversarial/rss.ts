/**
 * Peak resident memory of a server process between two points in time.
 *
 * Linux keeps the peak in /proc/<pid>/status as VmHWM and resets it when
 * "5" is written to /proc/<pid>/clear_refs (root or the process's owner).
 * That catches a spike between two samples, which polling VmRSS can miss.
 * Where the reset is refused, VmRSS is sampled instead, and the report
 * says which method was used.
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** How often VmRSS is read when the peak cannot be reset. */
export const rssSampleIntervalMs = 20;

export type PeakMethod = 'VmHWM' | 'sampled VmRSS';

function statusKilobytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined; // The process is gone.
  }
}

/** Current resident set size in bytes, undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  const kilobytes = statusKilobytes(pid, 'VmRSS');
  return kilobytes === undefined ? undefined : kilobytes * 1024;
}

/** Resets the kernel's peak RSS of `pid` (VmHWM); false where not allowed (not root, not the owner). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The kernel's peak RSS of `pid` in bytes since start or the last reset; undefined once the process is gone. */
export function peakRssBytes(pid: number): number | undefined {
  const kilobytes = statusKilobytes(pid, 'VmHWM');
  return kilobytes === undefined ? undefined : kilobytes * 1024;
}

export class PeakRssMeter {
  readonly method: PeakMethod;
  private sampledPeakBytes = 0;
  private sampler: NodeJS.Timeout | undefined;

  constructor(private readonly pid: number) {
    this.method = resetPeakRss(pid) ? 'VmHWM' : 'sampled VmRSS';
  }

  /**
   * Starts a new measurement window. VmRSS is sampled with either method:
   * it is what is left to read once the process is gone.
   */
  start(): void {
    this.stop();
    if (this.method === 'VmHWM') resetPeakRss(this.pid);
    this.sampledPeakBytes = rssBytes(this.pid) ?? 0;
    this.sampler = setInterval(() => {
      this.sampledPeakBytes = Math.max(this.sampledPeakBytes, rssBytes(this.pid) ?? 0);
    }, rssSampleIntervalMs);
  }

  /** Peak bytes since start(); undefined if nothing could be read. */
  peakBytes(): number | undefined {
    const kernelPeakBytes = this.method === 'VmHWM' ? peakRssBytes(this.pid) : undefined;
    const peak = Math.max(this.sampledPeakBytes, rssBytes(this.pid) ?? 0, kernelPeakBytes ?? 0);
    return peak === 0 ? undefined : peak;
  }

  stop(): void {
    clearInterval(this.sampler);
    this.sampler = undefined;
  }
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const clockTicksPerSecond = 100;

/**
 * CPU seconds (user + system) a process has used so far, undefined once it
 * is gone: sampled before and after a measurement, the difference is the
 * server's CPU for that work, steadier than wall time on a shared machine.
 */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 2 (the command) is parenthesised and may hold spaces: count from its closing paren (field 3 = state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / clockTicksPerSecond;
  } catch {
    return undefined;
  }
}

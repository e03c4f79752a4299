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

/**
 * The liveness stamp: a tiny file the server rewrites every second with the
 * wall-clock time, so that after a restart it knows how long it was down.
 *
 * Why: a lease's deadline lives only in the primary's memory (keepalives
 * never touch the disk). etcd therefore gives every lease a fresh TTL after
 * a restart, even one whose holder died long ago. Holdfast does the same for
 * leases that could still be alive, and revokes right after start the
 * leases that certainly expired while the server was down: no keepalive
 * can have reached a stopped server, so a lease whose TTL is shorter than
 * the downtime is dead by its holder's own reckoning too.
 *
 * Safety rests on never overestimating the downtime: the stamp is fsynced
 * each time, the estimate subtracts a full stamp interval, and a missing or
 * damaged stamp means "unknown", which revokes nothing (etcd's behaviour).
 * A wall clock stepped forward across the restart would overestimate; this
 * is the one assumption, and it is logged with the downtime at start.
 *
 * Layout (16 bytes, rewritten in place):
 *     offset 0..7   wall-clock milliseconds, u64 big-endian
 *     offset 8..11  CRC-32 of bytes 0..7
 *     offset 12..15 zero
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/** How often the stamp is rewritten. */
export const livenessStampIntervalMs = 1_000;
const stampBytes = 16;

export interface WallClock {
  nowMs(): number;
}

export const systemWallClock: WallClock = { nowMs: () => Date.now() };

/**
 * How long the server was certainly down, from the stamp at `path`;
 * undefined when there is no readable stamp.
 */
export function readCertainDowntimeMs(path: string, clock: WallClock = systemWallClock): number | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  if (bytes.length !== stampBytes || crc32(bytes.subarray(0, 8)) !== bytes.readUInt32BE(8)) return undefined;
  const stampedMs = Number(bytes.readBigUInt64BE(0));
  // The server may have run for up to one interval after the last stamp.
  return Math.max(0, clock.nowMs() - stampedMs - livenessStampIntervalMs);
}

/** Rewrites the stamp every livenessStampIntervalMs until stop(). */
export class LivenessStamp {
  private readonly descriptor: number;
  private readonly clock: WallClock;
  private timer: NodeJS.Timeout | undefined;
  private readonly buffer = Buffer.alloc(stampBytes);

  constructor(path: string, clock: WallClock = systemWallClock) {
    this.descriptor = openSync(path, 'w');
    this.clock = clock;
  }

  start(onError: (error: unknown) => void): void {
    this.write();
    this.timer = setInterval(() => {
      try {
        this.write();
      } catch (error) {
        onError(error);
      }
    }, livenessStampIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.write();
    } catch {
      // Stopping anyway: the last periodic stamp is at most one interval old,
      // which readCertainDowntimeMs() allows for.
    }
    closeSync(this.descriptor);
  }

  private write(): void {
    this.buffer.writeBigUInt64BE(BigInt(Math.floor(this.clock.nowMs())), 0);
    this.buffer.writeUInt32BE(crc32(this.buffer.subarray(0, 8)), 8);
    writeSync(this.descriptor, this.buffer, 0, stampBytes, 0);
    fdatasyncSync(this.descriptor);
  }
}

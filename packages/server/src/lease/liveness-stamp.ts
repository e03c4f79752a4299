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
import { open, type FileHandle } from 'node:fs/promises';
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

/**
 * Rewrites the stamp every livenessStampIntervalMs until stop(). The
 * periodic writes and fdatasyncs run on libuv's thread pool: an fsync on a
 * busy disk can take tens of milliseconds, which the event loop must not wait
 * for. A rewrite is skipped while the previous one is still in flight (the
 * stamp is then older, which only makes the downtime estimate smaller: safe).
 */
export class LivenessStamp {
  private readonly path: string;
  private readonly clock: WallClock;
  private handle: FileHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  private constructor(path: string, clock: WallClock) {
    this.path = path;
    this.clock = clock;
  }

  /** Opens (truncating) the stamp file and writes the first stamp. */
  static async start(path: string, onError: (error: unknown) => void, clock: WallClock = systemWallClock): Promise<LivenessStamp> {
    const stamp = new LivenessStamp(path, clock);
    stamp.handle = await open(path, 'w');
    await stamp.write();
    stamp.timer = setInterval(() => {
      if (stamp.inFlight !== undefined) return;
      stamp.inFlight = stamp.write().catch(onError).finally(() => (stamp.inFlight = undefined));
    }, livenessStampIntervalMs);
    stamp.timer.unref();
    return stamp;
  }

  /** Writes a last stamp (synchronously: the process may be about to exit) and closes the file. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.handle?.close();
    this.handle = undefined;
    try {
      const descriptor = openSync(this.path, 'r+');
      try {
        writeSync(descriptor, stampBytesAt(this.clock.nowMs()), 0, stampBytes, 0);
        fdatasyncSync(descriptor);
      } finally {
        closeSync(descriptor);
      }
    } catch {
      // Stopping anyway: the last periodic stamp is at most one interval old,
      // which readCertainDowntimeMs() allows for.
    }
  }

  private async write(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    await handle.write(stampBytesAt(this.clock.nowMs()), 0, stampBytes, 0);
    await handle.datasync();
  }
}

function stampBytesAt(nowMs: number): Buffer {
  const buffer = Buffer.alloc(stampBytes);
  buffer.writeBigUInt64BE(BigInt(Math.floor(nowMs)), 0);
  buffer.writeUInt32BE(crc32(buffer.subarray(0, 8)), 8);
  return buffer;
}

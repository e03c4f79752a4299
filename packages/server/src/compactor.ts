/**
 * Auto compaction (--auto-compaction-mode / --auto-compaction-retention), as
 * etcd 3.4 does it:
 * - periodic: every retention/10 the current revision is sampled; each time,
 *   the store is compacted at the revision sampled `retention` ago, so about
 *   `retention` of history is kept.
 * - revision: every `revisionCheckIntervalMs`, compact at current - retention.
 * The clock and timers are injected so tests drive time themselves.
 */
import type { AutoCompactionMode } from './config.js';

export interface CompactorClock {
  now(): number;
  setInterval(callback: () => void, intervalMs: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: CompactorClock = {
  now: () => Date.now(),
  setInterval: (callback, intervalMs) => setInterval(callback, intervalMs).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/** How often revision mode looks at the revision (etcd: 5 minutes). */
export const revisionCheckIntervalMs = 5 * 60 * 1000;

export interface CompactorOptions {
  readonly mode: AutoCompactionMode;
  /** periodic: milliseconds of history to keep; revision: revisions to keep. */
  readonly retention: number;
  readonly currentRevision: () => number;
  /** Proposes a compaction; errors (already compacted, stopping) are the caller's to log. */
  readonly compact: (revision: number) => Promise<void>;
  readonly clock?: CompactorClock;
}

export class Compactor {
  private readonly options: CompactorOptions;
  private readonly clock: CompactorClock;
  private handle: unknown;
  /** periodic: (time, revision) samples, oldest first, at most samplesPerRetention + 1. */
  private readonly samples: Array<{ atMs: number; revision: number }> = [];
  private lastCompacted = 0;
  private running = false;

  constructor(options: CompactorOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.options.retention <= 0 || this.handle !== undefined) return;
    if (this.options.mode === 'periodic') {
      const intervalMs = Math.max(1, Math.floor(this.options.retention / 10));
      this.samples.push({ atMs: this.clock.now(), revision: this.options.currentRevision() });
      this.handle = this.clock.setInterval(() => void this.periodicTick(), intervalMs);
    } else {
      this.handle = this.clock.setInterval(() => void this.revisionTick(), revisionCheckIntervalMs);
    }
  }

  stop(): void {
    if (this.handle !== undefined) this.clock.clearInterval(this.handle);
    this.handle = undefined;
  }

  private async periodicTick(): Promise<void> {
    const now = this.clock.now();
    this.samples.push({ atMs: now, revision: this.options.currentRevision() });
    // Bound: samples older than the retention window are no longer needed
    // once a newer one is at least `retention` old.
    while (this.samples.length > 1 && now - this.samples[1]!.atMs >= this.options.retention) this.samples.shift();
    const oldest = this.samples[0]!;
    if (now - oldest.atMs >= this.options.retention) await this.compactAt(oldest.revision);
  }

  private async revisionTick(): Promise<void> {
    await this.compactAt(this.options.currentRevision() - this.options.retention);
  }

  private async compactAt(revision: number): Promise<void> {
    if (revision <= this.lastCompacted || revision <= 1 || this.running) return;
    this.running = true;
    try {
      await this.options.compact(revision);
      this.lastCompacted = revision;
    } finally {
      this.running = false;
    }
  }
}

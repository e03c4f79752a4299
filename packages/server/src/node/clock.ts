/**
 * Time as a member sees it. Injected, so that a whole member (not only its
 * Raft core) can run in a simulator from a seed: the node reads time and
 * sets repeating ticks only through this.
 */
export interface Clock {
  /** Monotonic milliseconds, for deadlines and durations. */
  nowMs(): number;
  /** Wall-clock milliseconds since the epoch, for ids that must differ across restarts. */
  wallMs(): number;
  /**
   * Calls `tick` every `intervalMs` until the returned function is called.
   * A tick never keeps the process alive on its own.
   */
  every(intervalMs: number, tick: () => void): () => void;
}

/** The process's clocks and timers. */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  every: (intervalMs, tick) => {
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/**
 * Timers for delays longer than a Node timer can wait.
 *
 * Node fires a timer whose delay is above 2^31 - 1 ms (24.8 days) after
 * 1 ms. Call deadlines (`timeoutMs` of 2^31 or more, "no deadline" as a
 * large number) and the deadlines of leases with long TTLs can be that far
 * away, so they wait in steps of at most that long.
 */

/** The longest delay a Node timer honours; longer ones fire after 1 ms. */
export const maxTimerDelayMs = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** Calls `callback` once `delayMs` have passed on the monotonic clock, however long that is. */
export function setLongTimeout(callback: () => void, delayMs: number): LongTimeout {
  const deadlineMs = performance.now() + Math.max(0, delayMs);
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const remainingMs = deadlineMs - performance.now();
    timer = remainingMs > maxTimerDelayMs ? setTimeout(arm, maxTimerDelayMs) : setTimeout(callback, Math.max(0, remainingMs));
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}

/** Small helpers: abortable sleep, exponential backoff with jitter, the grpc-js-free pieces both sides use. */

import { onAbort } from '@holdfast/client';

/** Resolves after `ms`, or at once (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      stopWaiting();
      resolve();
    }, ms);
    const stopWaiting =
      signal === undefined
        ? () => {}
        : onAbort(signal, () => {
            clearTimeout(timer);
            resolve();
          });
  });
}

/** Exponential backoff with jitter: initial x 2^attempt, capped, then 50-100% of that. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  nextDelayMs(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling * (0.5 + Math.random() / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** An AbortSignal that aborts when any of `signals` does (undefined entries ignored). */
export function anySignal(...signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  return AbortSignal.any(present);
}

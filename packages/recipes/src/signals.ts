/** AbortSignal plumbing for waiting calls. */
import { onAbort } from '@holdfast/client';

/** An AbortController that also aborts (with the same reason) when any of the given signals does. */
export class LinkedAbort {
  private readonly controller = new AbortController();
  private readonly unlinks: Array<() => void> = [];

  constructor(...signals: ReadonlyArray<AbortSignal | undefined>) {
    for (const signal of signals) {
      if (signal === undefined) continue;
      if (signal.aborted) {
        this.controller.abort(signal.reason);
        break;
      }
      this.unlinks.push(onAbort(signal, () => this.abort(signal.reason)));
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts with `reason` unless already aborted (the first reason wins). */
  abort(reason: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    this.dispose();
  }

  /** Stops listening to the linked signals. */
  dispose(): void {
    for (const unlink of this.unlinks.splice(0)) unlink();
  }
}

/** Options of every call that may wait. */
export interface WaitOptions {
  /** Stops waiting: the call rejects with `signal.reason` (after cleaning up what it created). */
  readonly signal?: AbortSignal;
}

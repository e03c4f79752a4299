/**
 * Exponential backoff with jitter for re-opening long-lived streams (watch,
 * lease keepalive), which retry for as long as they are needed rather than
 * a bounded number of times as unary calls do with p-retry.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The pause before the next attempt: initial x 2^attempt, capped, then between 50% and 100% of that. */
  nextDelayMs(): number {
    const ceilingMs = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceilingMs * (0.5 + this.random() / 2));
  }

  /** Called once the stream works again. */
  reset(): void {
    this.attempt = 0;
  }
}

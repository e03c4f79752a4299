import { assert } from './errors.js';

/**
 * The window of append messages sent to one follower and not yet acknowledged,
 * identified by the last index each carried. Bounded by `maxInflightMessages`
 * so a slow follower cannot make the leader buffer unbounded traffic.
 *
 * Invariant: lastIndexes is strictly increasing and its length <= capacity.
 */
export class Inflights {
  private lastIndexes: number[] = [];

  constructor(readonly capacity: number) {
    assert(capacity > 0, 'inflights capacity must be positive');
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'cannot add to full inflights');
    const tail = this.lastIndexes[this.lastIndexes.length - 1];
    assert(tail === undefined || lastIndex > tail, () => `inflight ${lastIndex} not after ${tail}`);
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }

  freeFirstOne(): void {
    this.lastIndexes.shift();
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes = [];
  }
}

/**
 * A min-heap of (lease id, time to look at it next). Entries are never
 * updated in place: a keepalive pushes a new entry and the old one goes
 * stale; the reader skips entries whose time no longer matches the lease's
 * (see Lessor.takeExpired). That keeps a keepalive at O(log n).
 *
 * Bound: stale entries accumulate at the keepalive rate, so the heap is
 * rebuilt from the live leases once it holds more than
 * `sparseRebuildFactor` times as many entries as there are leases.
 */
export interface ExpiryItem {
  readonly id: bigint;
  readonly atMs: number;
}

/** Rebuild when entries exceed this multiple of the live lease count. */
export const sparseRebuildFactor = 4;
/** ...and never for heaps smaller than this (rebuilding small heaps buys nothing). */
export const sparseRebuildMinimumEntries = 4096;

export class ExpiryQueue {
  private heap: ExpiryItem[] = [];

  get size(): number {
    return this.heap.length;
  }

  clear(): void {
    this.heap = [];
  }

  peek(): ExpiryItem | undefined {
    return this.heap[0];
  }

  push(id: bigint, atMs: number): void {
    const heap = this.heap;
    heap.push({ id, atMs });
    let child = heap.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (heap[parent]!.atMs <= heap[child]!.atMs) break;
      [heap[parent], heap[child]] = [heap[child]!, heap[parent]!];
      child = parent;
    }
  }

  pop(): ExpiryItem | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let parent = 0;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < heap.length && heap[left]!.atMs < heap[smallest]!.atMs) smallest = left;
      if (right < heap.length && heap[right]!.atMs < heap[smallest]!.atMs) smallest = right;
      if (smallest === parent) return top;
      [heap[parent], heap[smallest]] = [heap[smallest]!, heap[parent]!];
      parent = smallest;
    }
  }

  /**
   * Drops stale entries once they dominate: `currentAtMs(id)` gives the
   * time an entry must carry to be live (undefined: the lease is gone).
   * Keeps one entry per lease: keepalives at the same clock reading push
   * equal entries that all match, and keeping them all would leave the heap
   * as large as before, so that every later push rebuilt it again.
   */
  compactIfSparse(liveCount: number, currentAtMs: (id: bigint) => number | undefined): void {
    if (this.heap.length < sparseRebuildMinimumEntries || this.heap.length <= sparseRebuildFactor * liveCount) return;
    const kept = new Set<bigint>();
    const live = this.heap.filter((item) => {
      if (kept.has(item.id) || currentAtMs(item.id) !== item.atMs) return false;
      kept.add(item.id);
      return true;
    });
    this.heap = [];
    for (const item of live) this.push(item.id, item.atMs);
  }
}

import type { NodeId } from './messages.js';

/** A ReadIndex request the leader is confirming with a round of heartbeats. */
export interface PendingRead {
  /** The leader's commit index when the request arrived. */
  readonly index: number;
  /** Who asked: this node, or the follower that forwarded it. */
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly acks: Set<NodeId>;
}

export function contextKey(context: Uint8Array): string {
  let s = '';
  for (const b of context) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * ReadIndex requests awaiting quorum confirmation, in arrival order. A quorum
 * acknowledging a heartbeat sent for request R also confirms every request
 * queued before R (they were all sent before R's heartbeat round).
 */
export class ReadOnlyQueue {
  private readonly pending = new Map<string, PendingRead>();
  private queue: string[] = [];

  size(): number {
    return this.queue.length;
  }

  /** Returns false if a request with the same context is already pending. */
  add(index: number, from: NodeId, context: Uint8Array): boolean {
    const key = contextKey(context);
    if (this.pending.has(key)) return false;
    this.pending.set(key, { index, from, context, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Records `from`'s ack of the round for `context`; returns the acks so far. */
  recvAck(from: NodeId, context: Uint8Array): ReadonlySet<NodeId> | undefined {
    const read = this.pending.get(contextKey(context));
    if (read === undefined) return undefined;
    read.acks.add(from);
    return read.acks;
  }

  /** Removes and returns every request up to and including the one for `context`. */
  advance(context: Uint8Array): PendingRead[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: PendingRead[] = [];
    for (const k of released) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.context;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}

import { assert } from './errors.js';
import { Inflights } from './inflights.js';

/**
 * How the leader replicates to one follower.
 * - probe: we do not know where the follower's log matches ours; send one
 *   append at a time and wait for the answer (or a heartbeat response).
 * - replicate: the follower is caught up to `match`; stream appends
 *   optimistically, bounded by the inflight window.
 * - snapshot: the entries the follower needs are compacted; a snapshot was
 *   sent and nothing else is sent until it is reported done or failed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * The leader's view of one peer.
 *
 * Invariant: match < next.
 */
export class Progress {
  /** Highest index known to be durable in the peer's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In probe state: an append is outstanding, wait before sending another. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, maxInflightMessages: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // The snapshot (if it arrived) covers up to pendingSnapshot.
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records that a message carrying entries up to `lastIndex` was sent. */
  sentEntries(entryCount: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** An acknowledgement up to `index` arrived. Returns false if it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected` arrived, hinting the follower's
   * log may match up to `matchHint`. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Rejections at or below match are duplicates/reorderings.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the last probe is meaningful.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    assert(this.match < this.next, 'Invariant: match < next');
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

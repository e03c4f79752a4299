import { CompactedError, UnavailableError, assert } from './errors.js';
import { type Entry, type Snapshot, limitSize } from './messages.js';
import type { Storage } from './storage.js';
import { UnstableLog } from './unstable-log.js';

/**
 * The node's view of the whole log: durable entries in Storage followed by
 * the unstable tail, plus the commit and apply cursors.
 *
 * Invariant: applied <= committed <= lastIndex.
 * Invariant: firstIndex - 1 <= applied (nothing below a snapshot is applied twice).
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: UnstableLog;
  /** Highest index known to be replicated on a quorum. */
  committed: number;
  /** Highest index the application has applied (reported via advance()). */
  applied: number;
  private readonly maxCommittedSizePerReadyBytes: number;

  constructor(storage: Storage, maxCommittedSizePerReadyBytes: number) {
    this.storage = storage;
    this.maxCommittedSizePerReadyBytes = maxCommittedSizePerReadyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index known to be durable: everything below the unstable tail. */
  lastPersistedIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return this.unstable.offset - 1;
  }

  /** Term at `index`. Throws CompactedError / UnavailableError outside [firstIndex-1, lastIndex]. */
  term(index: number): number {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    return this.storage.term(index);
  }

  /** Term at `index`, or 0 when it is compacted or not yet present. */
  termOrZero(index: number): number {
    try {
      return this.term(index);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return 0;
      throw e;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(index: number, term: number): boolean {
    try {
      return this.term(index) === term;
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return false;
      throw e;
    }
  }

  /** Raft's §5.4.1 election restriction: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. Returns the index of the last new entry,
   * or undefined if (prevIndex, prevTerm) does not match our log.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      // Invariant: committed entries are never overwritten (Log Matching +
      // Leader Completeness guarantee the leader agrees with them).
      assert(
        conflictIndex > this.committed,
        () => `entry ${conflictIndex} conflicts with committed entry (committed ${this.committed})`,
      );
      this.append(entries.slice(conflictIndex - (prevIndex + 1)));
    }
    // Only entries known to match the leader's log may be committed: those up
    // to the last one in this message, not our possibly-stale tail beyond it.
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert(
      first.index - 1 >= this.committed,
      () => `appending at ${first.index} would overwrite committed ${this.committed}`,
    );
    assert(first.index <= this.lastIndex() + 1, () => `gap: appending ${first.index} after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Index of the first entry whose term conflicts with ours, or of the first
   * new entry beyond our log; 0 if all entries are already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term.
   * Lets a rejected append skip a whole divergent term at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = index;
    for (;;) {
      let t: number;
      try {
        t = this.term(i);
      } catch (e) {
        if (e instanceof CompactedError || e instanceof UnavailableError) return { index: i, term: 0 };
        throw e;
      }
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return; // Commit never decreases.
    assert(
      toCommit <= this.lastIndex(),
      () => `commit ${toCommit} is out of range [lastIndex ${this.lastIndex()}]; was the log lost?`,
    );
    this.committed = toCommit;
  }

  /**
   * Leader-side commit rule (Raft §5.4.2, Figure 8): an index replicated on a
   * quorum is committed only if its entry is from the leader's current term.
   * Entries of earlier terms become committed indirectly, by Log Matching.
   */
  maybeCommit(quorumIndex: number, currentTerm: number): boolean {
    if (quorumIndex > this.committed && this.termOrZero(quorumIndex) === currentTerm) {
      this.commitTo(quorumIndex);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(
      this.committed >= index && index >= this.applied,
      () => `applied(${index}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    );
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEntries(): boolean {
    // A pending snapshot must be applied before any entry after it.
    if (this.hasPendingSnapshot()) return false;
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  /**
   * Committed entries not yet applied. May include unstable entries: they are
   * in the same Ready and the contract persists them before applying.
   */
  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxCommittedSizePerReadyBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Entries from `lo` to the end, limited in size. Throws CompactedError below firstIndex. */
  entriesFrom(lo: number, maxSizeBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Entries in [lo, hi), limited in size but at least one. */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, () => `slice[${lo},${hi}) out of bound lastIndex ${this.lastIndex()}`);
    if (lo === hi) return [];
    let result: Entry[] = [];
    const unstableOffset = this.unstable.offset;
    if (lo < unstableOffset) {
      result = this.storage.entries(lo, Math.min(hi, unstableOffset), maxSizeBytes);
      // Storage hit the size limit: do not append unstable entries after a gap.
      if (result.length < Math.min(hi, unstableOffset) - lo) return result;
    }
    if (hi > unstableOffset) {
      result = result.concat(this.unstable.slice(Math.max(lo, unstableOffset), hi));
    }
    return limitSize(result, maxSizeBytes);
  }

  /** Replaces the log with a snapshot; entries after it are discarded. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }
}

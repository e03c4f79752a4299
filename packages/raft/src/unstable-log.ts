import { assert } from './errors.js';
import type { Entry, Snapshot } from './messages.js';

/**
 * The tail of the log that the application has not yet made durable: an
 * optional incoming snapshot plus entries starting at `offset`.
 *
 * Invariant: if `entries` is non-empty, entries[i].index === offset + i.
 * Invariant: if `snapshot` is set, offset === snapshot.metadata.index + 1.
 */
export class UnstableLog {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  /** Index of entries[0]; everything below it is in Storage. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index, if a snapshot is pending (otherwise Storage knows). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /** The entries up to (index, term) are now durable. Ignored if the tail changed since. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    // If the entry was replaced by a newer leader's entry between ready() and
    // advance(), the persisted entry is stale: keep the new one unstable.
    if (t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(entries);
    } else if (after <= this.offset) {
      // The new entries replace everything unstable (and possibly part of
      // storage, which the application overwrites when persisting them).
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(
      this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      () => `unstable.slice[${lo},${hi}) out of bound [${this.offset},${this.offset + this.entries.length}]`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

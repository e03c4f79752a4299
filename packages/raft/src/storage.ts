import {
  CompactedError,
  SnapshotOutOfDateError,
  UnavailableError,
  assert,
  assertSafeIndex,
} from './errors.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  EMPTY_HARD_STATE,
  NO_NODE,
  encodeConfChange,
  limitSize,
} from './messages.js';

export interface InitialState {
  readonly hardState: HardState;
  /** Membership as of the snapshot (the configuration the node restarts with). */
  readonly confState: ConfState;
}

/**
 * The durable log as seen by the Raft core. The core only reads through this
 * interface; the application writes to its storage while handling a Ready
 * (see the persistence contract in README.md).
 *
 * Invariant: firstIndex() - 1 is the index of the latest snapshot and
 * term(firstIndex() - 1) is its term; entries [firstIndex, lastIndex] are all
 * available and contiguous.
 */
export interface Storage {
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), limited to `maxSizeBytes` in total but always at
   * least one entry when lo < hi. Throws CompactedError if lo < firstIndex().
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /**
   * Term of the entry at `index`, valid for [firstIndex()-1, lastIndex()].
   * Throws CompactedError below, UnavailableError above.
   */
  term(index: number): number;
  lastIndex(): number;
  firstIndex(): number;
  /** The most recent snapshot. May throw SnapshotTemporarilyUnavailableError. */
  snapshot(): Snapshot;
}

/**
 * An in-memory Storage, also usable as the volatile mirror of an on-disk log.
 * `ents[0]` is a dummy entry standing for the snapshot (its index and term).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  // Invariant: ents.length >= 1, ents[0] is the snapshot's (index, term) and
  // ents[i].index === ents[0].index + i.
  private ents: Entry[];

  /**
   * An empty storage: a node that joins an existing cluster (it learns the
   * membership from the leader's log or snapshot). Use
   * MemoryStorage.bootstrap() for the initial members of a new cluster.
   */
  constructor() {
    this.snap = {
      metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
      data: new Uint8Array(0),
    };
    this.ents = [dummyEntry(0, 0)];
  }

  /**
   * Storage for an initial member of a new cluster: the membership is written
   * as committed confChange entries at indexes 1..n of term 1 (as etcd does),
   * so that any node added later learns it by replaying the log. Every
   * initial member must be bootstrapped with the same `confState`. The
   * application applies these entries (applyConfChange) from the first Ready.
   */
  static bootstrap(confState: ConfState): MemoryStorage {
    const storage = new MemoryStorage();
    const changes: ConfChange[] = [
      ...confState.voters.map((nodeId): ConfChange => ({ type: 'addNode', nodeId })),
      ...confState.learners.map((nodeId): ConfChange => ({ type: 'addLearner', nodeId })),
    ];
    assert(confState.voters.length > 0, 'bootstrap needs at least one voter');
    storage.append(changes.map((cc, i) => ({ index: i + 1, term: 1, type: 'confChange', data: encodeConfChange(cc) })));
    storage.setHardState({ term: 1, vote: NO_NODE, commit: changes.length });
    return storage;
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hardState: HardState): void {
    assertSafeIndex(hardState.term, 'hardState.term');
    assertSafeIndex(hardState.commit, 'hardState.commit');
    this.hardState = hardState;
  }

  hardStateSnapshot(): HardState {
    return this.hardState;
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, () => `entries hi ${hi} is out of bound lastIndex ${this.lastIndex()}`);
    assert(lo <= hi, () => `invalid entries range [${lo}, ${hi})`);
    // Only the dummy entry: nothing stored.
    if (this.ents.length === 1) throw new UnavailableError(lo);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSizeBytes);
  }

  term(index: number): number {
    const offset = this.offset();
    if (index < offset) throw new CompactedError(index);
    const entry = this.ents[index - offset];
    if (entry === undefined) throw new UnavailableError(index);
    return entry.term;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void {
    if (this.snap.metadata.index >= snapshot.metadata.index) {
      throw new SnapshotOutOfDateError(
        `snapshot at ${snapshot.metadata.index} is not newer than ${this.snap.metadata.index}`,
      );
    }
    this.snap = snapshot;
    this.ents = [dummyEntry(snapshot.metadata.index, snapshot.metadata.term)];
  }

  /**
   * Records a snapshot of the application state as of `index` (which must be
   * applied, hence <= lastIndex). Does not compact; call compact() for that.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(`snapshot at ${index} is not newer than ${this.snap.metadata.index}`);
    }
    assert(index <= this.lastIndex(), () => `snapshot index ${index} beyond lastIndex ${this.lastIndex()}`);
    this.snap = {
      metadata: { index, term: this.term(index), confState: copyConfState(confState) },
      data,
    };
    return this.snap;
  }

  /**
   * Discards entries up to and including `compactIndex`. The application must
   * have created a snapshot covering them first, or a lagging follower could
   * never catch up.
   */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new CompactedError(compactIndex);
    assert(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} beyond lastIndex ${this.lastIndex()}`);
    assert(
      compactIndex <= this.snap.metadata.index,
      () => `compact ${compactIndex} beyond snapshot ${this.snap.metadata.index}: entries would be lost`,
    );
    const keep = this.ents.slice(compactIndex - offset);
    const first = keep[0];
    assert(first !== undefined, 'compaction keeps the dummy entry');
    keep[0] = dummyEntry(first.index, first.term);
    this.ents = keep;
  }

  /**
   * Appends entries, truncating any conflicting suffix first. Entries that
   * precede the first index are ignored (already compacted, hence committed).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    let toAppend = entries;
    if (entries[0]!.index < first) toAppend = entries.slice(first - entries[0]!.index);
    const head = toAppend[0]!;
    const offset = this.offset();
    assert(
      head.index <= this.lastIndex() + 1,
      () => `missing log entries: lastIndex ${this.lastIndex()}, appending from ${head.index}`,
    );
    for (const e of toAppend) assertSafeIndex(e.index, 'entry index');
    // Truncate everything from head.index onwards, then append.
    this.ents = this.ents.slice(0, head.index - offset).concat(toAppend);
  }

  private offset(): number {
    return this.ents[0]!.index;
  }
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(0) };
}

function copyConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

/**
 * Writes applied but not yet committed to lmdb, per table: etcd's batched
 * backend (batchTx + txReadBuffer) for Holdfast.
 *
 * Why: an lmdb commit waits for the previous commit's fsync
 * (overlappingSync), so committing every applied batch costs the apply loop
 * a second fsync on top of the WAL's. etcd commits bbolt every 100 ms or
 * 10,000 writes instead, and serves reads from a buffer of what is pending.
 * Holdfast does the same: Backend.write() records changes here; reads see
 * them at once; a commit moves everything pending into lmdb in one
 * transaction (so the consistent index and the data it describes still land
 * together), on a timer or when a bound is reached, and before anything that
 * needs the file (flushed(), copies, defragment, close).
 *
 * Nothing acknowledged depends on this buffer: the WAL already holds every
 * applied entry, and recovery replays from the consistent index that lmdb
 * holds, which is never ahead of the data lmdb holds.
 *
 * Keys are latin1 strings (one char per byte), so string order is byte order.
 */
import sortedBtree from 'sorted-btree';

// sorted-btree is CommonJS whose `exports.default` is the class; from ESM
// the default import is the whole exports object.
const BTree = sortedBtree.default;

/** A pending value, or null for a pending delete. */
export type PendingValue = Buffer | null;

export class PendingTable {
  readonly entries = new BTree<string, PendingValue>();

  get size(): number {
    return this.entries.size;
  }
}

/** One change recorded by a write, for rolling it back if the write throws. */
export interface UndoRecord {
  readonly table: PendingTable;
  readonly key: string;
  /** What the buffer held before (undefined: nothing pending for the key). */
  readonly previous: PendingValue | undefined;
}

export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function keyBuffer(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/**
 * Merges an ascending lmdb range with the pending entries of the same range:
 * pending values win, pending deletes hide lmdb entries.
 */
export function* mergeAscending(
  committed: Iterable<{ key: Buffer; value: Buffer }>,
  pending: PendingTable,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  limit: number | undefined,
): Iterable<{ key: Buffer; value: Buffer }> {
  const pendingEntries = pendingInRange(pending, start, end, false);
  let nextPending = pendingEntries.next();
  let emitted = 0;
  const emit = (entry: { key: Buffer; value: Buffer }) => {
    emitted++;
    return entry;
  };
  const full = () => limit !== undefined && limit > 0 && emitted >= limit;
  for (const entry of committed) {
    // Pending keys before this committed key come first.
    while (!nextPending.done && Buffer.compare(nextPending.value[0], entry.key) < 0) {
      if (nextPending.value[1] !== null) {
        yield emit({ key: nextPending.value[0], value: nextPending.value[1] });
        if (full()) return;
      }
      nextPending = pendingEntries.next();
    }
    if (!nextPending.done && Buffer.compare(nextPending.value[0], entry.key) === 0) {
      const value = nextPending.value[1];
      nextPending = pendingEntries.next();
      if (value === null) continue;
      yield emit({ key: entry.key, value });
    } else {
      yield emit(entry);
    }
    if (full()) return;
  }
  while (!nextPending.done) {
    if (nextPending.value[1] !== null) {
      yield emit({ key: nextPending.value[0], value: nextPending.value[1] });
      if (full()) return;
    }
    nextPending = pendingEntries.next();
  }
}

/** As mergeAscending, descending: `committed` must come in descending order. */
export function* mergeDescending(
  committed: Iterable<{ key: Buffer; value: Buffer }>,
  pending: PendingTable,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  limit: number | undefined,
): Iterable<{ key: Buffer; value: Buffer }> {
  const pendingEntries = pendingInRange(pending, start, end, true);
  let nextPending = pendingEntries.next();
  let emitted = 0;
  const full = () => limit !== undefined && limit > 0 && emitted >= limit;
  for (const entry of committed) {
    while (!nextPending.done && Buffer.compare(nextPending.value[0], entry.key) > 0) {
      if (nextPending.value[1] !== null) {
        emitted++;
        yield { key: nextPending.value[0], value: nextPending.value[1] };
        if (full()) return;
      }
      nextPending = pendingEntries.next();
    }
    if (!nextPending.done && Buffer.compare(nextPending.value[0], entry.key) === 0) {
      const value = nextPending.value[1];
      nextPending = pendingEntries.next();
      if (value === null) continue;
      emitted++;
      yield { key: entry.key, value };
    } else {
      emitted++;
      yield entry;
    }
    if (full()) return;
  }
  while (!nextPending.done) {
    if (nextPending.value[1] !== null) {
      emitted++;
      yield { key: nextPending.value[0], value: nextPending.value[1] };
      if (full()) return;
    }
    nextPending = pendingEntries.next();
  }
}

/** Pending entries in [start, end) as [key bytes, value], ascending or descending. */
function* pendingInRange(pending: PendingTable, start: Uint8Array | undefined, end: Uint8Array | undefined, descending: boolean): Generator<[Buffer, PendingValue]> {
  if (pending.size === 0) return;
  const low = start === undefined ? undefined : keyString(start);
  const high = end === undefined ? undefined : keyString(end);
  if (!descending) {
    for (const [key, value] of pending.entries.entries(low)) {
      if (high !== undefined && key >= high) return;
      yield [keyBuffer(key), value];
    }
    return;
  }
  for (const [key, value] of pending.entries.entriesReversed(high)) {
    // entriesReversed starts at `high` inclusive; the range is half-open.
    if (high !== undefined && key >= high) continue;
    if (low !== undefined && key < low) return;
    yield [keyBuffer(key), value];
  }
}

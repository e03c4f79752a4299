/**
 * The multi-version key-value store: etcd's revision semantics over the
 * backend's `key` table, with the ordered index of keys in memory.
 *
 * - The store revision starts at 1 on a fresh store; the first write gets 2.
 * - Each write transaction (a Put, a DeleteRange, or a whole Txn) that changes
 *   anything gets exactly one new main revision; its changes get sub-revisions
 *   0, 1, 2... in op order. A transaction that changes nothing leaves the
 *   revision alone.
 * - Every change is a new record keyed by its revision (see revision.ts);
 *   nothing is overwritten, so reads at any uncompacted revision see the past.
 * - Compaction at R makes reads below R fail, and deletes every record that no
 *   read at R or later can see. It is recorded as scheduled before anything
 *   is deleted and as finished after, so a crash in between redoes it at the
 *   next start (and the revision never goes back: see restore()).
 *
 * Reads and writes run on one thread; a write transaction must run inside
 * Backend.write() and is visible to reads as soon as it ends.
 */
import type { Backend, BackendTable } from '@holdfast/storage';
import { CompactedError, FutureRevisionError, MvccCorruptError } from './errors.js';
import { decodeKeyValue, decodeKeyValueHeader, decodeKeyValueViews, encodeKeyValue, type KeyValue, type KeyValueHeader } from './key-value.js';
import { decodeRevision, encodeRevision, encodeMainRevisionLowerBound, type Revision } from './revision.js';
import { revisionKey } from './key-index.js';
import { bytesToKey, keyToBytes, toKeyRange, TreeIndex, type KeyRange } from './tree-index.js';
import { Crc32c } from './crc32c.js';
import { openRecord, sealRecord } from './record.js';
import { join } from 'node:path';

export interface RangeOptions {
  /** Maximum keys returned; 0 = no limit. `count` still counts them all. */
  readonly limit?: number;
  /** Read at this revision; 0 = the current one. */
  readonly revision?: number;
  /** Count only: no KeyValues are read. */
  readonly countOnly?: boolean;
}

/**
 * Called by rangeInSlices for each key it returns, in key order, with the
 * stored record: the protobuf encoding of the mvccpb.KeyValue (see
 * key-value.ts). The bytes are valid only during the call (lmdb reuses the
 * buffer): copy what you keep.
 */
export type RangeRecordVisitor = (record: Uint8Array) => void;

/** What rangeInSlices found besides the records. */
export interface SlicedRangeResult {
  /** Keys in range at the read revision, before the limit. */
  readonly count: number;
  /** The store's current revision when the read started (the response header's). */
  readonly revision: number;
}

export interface RangeResult {
  readonly kvs: KeyValue[];
  /** Keys in range at the read revision, before the limit. */
  readonly count: number;
  /** The revision read at (the store's current one when 0 was asked). */
  readonly revision: number;
}

export type ChangeKind = 'put' | 'delete';

/** One change made by a write transaction, in order: what watchers see. */
export interface Change {
  readonly kind: ChangeKind;
  /** For a put, the new value; for a delete, key and modRevision only. */
  readonly kv: KeyValue;
}

/** One change read back from history: what a watcher is sent. */
export interface HistoryEvent {
  readonly kind: ChangeKind;
  /** For a delete: the key, with modRevision set to the deletion's revision. */
  readonly kv: KeyValue;
  /**
   * For a put read from history: `kv`'s protobuf encoding as stored, which
   * is its wire encoding, so senders need not encode it again.
   */
  readonly encodedKv?: Uint8Array;
}

/** A run of whole revisions read from history. */
export interface HistoryBatch {
  readonly events: HistoryEvent[];
  /**
   * The last revision whose every change is in `events`; the next read
   * starts after it. Equals the requested end unless the event bound cut
   * the read short (always at a revision boundary).
   */
  readonly throughRevision: number;
}

export interface HashResult {
  readonly hash: number;
  readonly revision: number;
  readonly compactRevision: number;
}

/** Names of the meta-table records the store owns (etcd's names). */
export const metaKeys = {
  scheduledCompactRevision: Buffer.from('scheduledCompactRev'),
  finishedCompactRevision: Buffer.from('finishedCompactRev'),
} as const;

/** Records deleted per backend transaction while compacting. */
export const compactionBatchRecords = 10_000;

/**
 * Keys of the index a sliced Range visits before it yields to the event
 * loop (rangeInSlices). 1,000 index entries cost about a millisecond, so
 * other requests (and /health) wait at most a few ms behind a range of any
 * size, while the per-slice overhead (one setImmediate) stays under 1%.
 */
export const rangeSliceKeys = 1_000;
/**
 * Record bytes a sliced Range reads before it yields, whichever of this and
 * rangeSliceKeys comes first: 1,000 keys of 1 MiB values would otherwise be
 * a 1 GiB slice. 1 MiB copies in well under a millisecond.
 */
export const rangeSliceBytes = 1024 * 1024;

export interface MvccStoreOptions {
  /** Told about recoverable oddities found at start (never silent). */
  readonly warn?: (message: string) => void;
}

const emptyBytes = new Uint8Array(0);

export class MvccStore {
  private readonly backend: Backend;
  private readonly keyTable: BackendTable;
  private readonly metaTable: BackendTable;
  private readonly index = new TreeIndex();
  /** The backend file, named in corruption errors. */
  private readonly location: string;
  /** The newest revision; reads default to it. */
  private currentMain = 1;
  /** Reads below this fail with CompactedError. 0 = never compacted. */
  private compactedMain = 0;
  /** Backend deletion of compacted records still running, if any. */
  private compactionInFlight: Promise<void> = Promise.resolve();
  /** Filled by restore(), emptied by takeRestoredLeaseAttachments(). */
  private restoredLeaseAttachments = new Map<string, bigint>();
  /**
   * Revisions sliced reads are reading at (revision -> reads), so that
   * compaction does not remove what they still have to read between slices.
   */
  private readonly pinnedReads = new Map<number, number>();
  /** Called when a pinned read ends: compactions waiting for reads below them. */
  private readonly pinWaiters: Array<{ below: number; resolve: () => void }> = [];
  /** Compactions whose index and record removal wait for pinned reads (or for one that waits). */
  private deferredCompactions = 0;

  private constructor(backend: Backend) {
    this.backend = backend;
    this.keyTable = backend.table('key');
    this.metaTable = backend.table('meta');
    this.location = join(backend.directory, 'data.mdb');
  }

  /**
   * Opens the store on `backend`, rebuilding the index from every record, and
   * finishing a compaction that a crash interrupted.
   */
  static open(backend: Backend, options: MvccStoreOptions = {}): MvccStore {
    const store = new MvccStore(backend);
    store.restore(options.warn ?? (() => {}));
    return store;
  }

  get currentRevision(): number {
    return this.currentMain;
  }

  get compactRevision(): number {
    return this.compactedMain;
  }

  /** Number of keys that have any history (live or deleted but not compacted). */
  get indexedKeyCount(): number {
    return this.index.size;
  }

  /** Reads [key, rangeEnd) at options.revision (see tree-index.ts for rangeEnd). */
  range(key: Uint8Array, rangeEnd: Uint8Array | undefined, options: RangeOptions = {}): RangeResult {
    return this.rangeAt(toKeyRange(key, rangeEnd), this.currentMain, options);
  }

  /**
   * Starts a write transaction; it must run inside backend.write() and be
   * ended with end() before that returns.
   */
  beginWrite(): WriteTransaction {
    return new WriteTransaction(this, this.currentMain);
  }

  /**
   * Compacts at `revision`: from now on reads below it fail. The in-memory
   * index is compacted at once; the backend records are deleted in batches
   * afterwards. Must run inside backend.write() (it records the schedule);
   * the returned promise resolves when the records are gone ("physical").
   */
  compact(revision: number): Promise<void> {
    if (revision <= this.compactedMain) throw new CompactedError(this.compactedMain);
    if (revision > this.currentMain) throw new FutureRevisionError();
    this.metaTable.put(metaKeys.scheduledCompactRevision, encodeRevision({ main: revision, sub: 0 }));
    this.compactedMain = revision;
    const previous = this.compactionInFlight;
    if (this.deferredCompactions === 0 && this.lowestPinnedRead() >= revision) {
      const available = this.compactIndex(revision);
      this.compactionInFlight = previous.then(() => this.deleteCompactedRecords(revision, available));
    } else {
      // A sliced read below `revision` is still running: new reads below it
      // already fail, but the index and the records it reads stay until it
      // ends (as etcd's compaction waits for the read transactions).
      this.deferredCompactions++;
      this.compactionInFlight = previous
        .then(() => this.pinnedReadsBelow(revision))
        .then(() => {
          this.deferredCompactions--;
          return this.deleteCompactedRecords(revision, this.compactIndex(revision));
        });
    }
    return this.compactionInFlight;
  }

  /**
   * Reads [key, rangeEnd) at one revision in slices of at most
   * rangeSliceKeys index entries and rangeSliceBytes record bytes, calling
   * `visit` with each record in key order (at most options.limit of them;
   * none for countOnly) and yielding to the event loop between slices, so a
   * read of any size leaves the server answering others. Writes between
   * slices do not change what it reads (records are never overwritten, and
   * the index answers for the fixed revision); compaction waits for it.
   */
  async rangeInSlices(key: Uint8Array, rangeEnd: Uint8Array | undefined, options: RangeOptions, visit: RangeRecordVisitor): Promise<SlicedRangeResult> {
    const latestMain = this.currentMain;
    const requested = options.revision ?? 0;
    if (requested > latestMain) throw new FutureRevisionError();
    const atMain = requested > 0 ? requested : latestMain;
    if (atMain < this.compactedMain) throw new CompactedError(this.compactedMain);
    const range = toKeyRange(key, rangeEnd);
    const limit = options.countOnly ? 0 : Math.max(0, options.limit ?? 0);
    const unpin = this.pinRead(atMain);
    try {
      let count = 0;
      let resumeAt: string | undefined = range.start;
      while (resumeAt !== undefined) {
        let visited = 0;
        let bytes = 0;
        const sliceStart: string = resumeAt;
        resumeAt = undefined;
        this.index.forEachInRange({ start: sliceStart, end: range.end }, (keyIndex) => {
          if (visited >= rangeSliceKeys || bytes >= rangeSliceBytes) {
            resumeAt = keyIndex.key;
            return false;
          }
          visited++;
          const at = keyIndex.get(atMain);
          if (at === undefined) return true;
          count++;
          if (options.countOnly || (limit !== 0 && count > limit)) return true;
          const record = this.readRecordBytes(at.modified);
          bytes += record.length;
          visit(record);
          return true;
        });
        if (resumeAt !== undefined) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return { count, revision: latestMain };
    } finally {
      unpin();
    }
  }

  /**
   * Every change with main revision in [fromMain, toMain], in revision
   * order, stopping early (at a revision boundary) once `maxEvents` are
   * read or their records reach `maxBytes`: one revision is never split, so
   * a watcher that catches up from history still sees each revision's
   * changes together. The cost is proportional to what it returns: one
   * seek, then one record per event. Reads below the compacted revision
   * fail, since their records may be gone.
   */
  readHistory(fromMain: number, toMain: number, maxEvents: number, maxBytes = Infinity): HistoryBatch {
    if (fromMain < this.compactedMain) throw new CompactedError(this.compactedMain);
    if (toMain > this.currentMain) throw new FutureRevisionError();
    const events: HistoryEvent[] = [];
    let throughRevision = toMain;
    let lastMain = -1;
    let bytes = 0;
    for (const { key: revisionBytes, value } of this.keyTable.range(encodeMainRevisionLowerBound(fromMain), encodeMainRevisionLowerBound(toMain + 1))) {
      const { revision, tombstone } = decodeRevision(revisionBytes);
      if ((events.length >= maxEvents || bytes >= maxBytes) && revision.main !== lastMain) {
        throughRevision = lastMain;
        break;
      }
      const record = openRecord(revisionBytes, value, this.location);
      bytes += record.length;
      // Range values are the reader's own copies: views, not more copies.
      const kv = decodeKeyValueViews(record);
      events.push(tombstone ? { kind: 'delete', kv: { ...kv, modRevision: revision.main } } : { kind: 'put', kv, encodedKv: record });
      lastMain = revision.main;
    }
    return { events, throughRevision };
  }

  /**
   * The lease of every live key that has one, as found when the store was
   * opened (the lessor rebuilds its key sets from it). Handed out once.
   */
  takeRestoredLeaseAttachments(): Map<string, bigint> {
    const attachments = this.restoredLeaseAttachments;
    this.restoredLeaseAttachments = new Map();
    return attachments;
  }

  /** Resolves when no compaction is deleting records any more. */
  async compactionSettled(): Promise<void> {
    await this.compactionInFlight;
  }

  /**
   * CRC-32C over the `key` table up to `revision` (0 = current), as etcd 3.4's
   * HashKV computes it: the bucket name, then every record's key and value
   * with revision <= `revision`, where records at or below the compacted
   * revision count only if compaction at `revision` would keep them.
   */
  hashByRevision(revision: number): HashResult {
    const compactRevision = this.compactedMain;
    if (revision > 0 && revision <= compactRevision) throw new CompactedError(compactRevision);
    if (revision > this.currentMain) throw new FutureRevisionError();
    const atMain = revision === 0 ? this.currentMain : revision;
    const keep = new Set<string>();
    for (const keyIndex of this.index.values()) keyIndex.keep(atMain, keep);
    const hash = new Crc32c().update(Buffer.from('key'));
    const upper = encodeMainRevisionLowerBound(atMain + 1);
    for (const { key, value } of this.keyTable.range(undefined, upper)) {
      const { revision: recordRevision } = decodeRevision(key);
      if (recordRevision.main <= compactRevision && keep.size > 0 && !keep.has(revisionKey(recordRevision))) continue;
      hash.update(key);
      hash.update(openRecord(key, value, this.location));
    }
    return { hash: hash.digest(), revision: this.currentMain, compactRevision };
  }

  // ---- internals shared with WriteTransaction ----

  /** @internal */
  rangeAt(range: KeyRange, latestMain: number, options: RangeOptions): RangeResult {
    const requested = options.revision ?? 0;
    if (requested > latestMain) throw new FutureRevisionError();
    const atMain = requested > 0 ? requested : latestMain;
    if (atMain < this.compactedMain) throw new CompactedError(this.compactedMain);
    const limit = options.countOnly ? 0 : Math.max(0, options.limit ?? 0);
    if (options.countOnly) {
      let count = 0;
      this.index.forEachInRange(range, (keyIndex) => {
        if (keyIndex.get(atMain) !== undefined) count++;
      });
      return { kvs: [], count, revision: latestMain };
    }
    const { found, total } = this.index.rangeAt(range, atMain, limit);
    const kvs = found.map(({ at }) => this.readRecord(at.modified));
    return { kvs, count: total, revision: latestMain };
  }

  /** @internal The index, for write transactions. */
  get treeIndex(): TreeIndex {
    return this.index;
  }

  /** @internal */
  get keys(): BackendTable {
    return this.keyTable;
  }

  /** @internal Called by WriteTransaction.end(). */
  advanceTo(main: number): void {
    if (main !== this.currentMain + 1) throw new Error(`mvcc: revision jump ${this.currentMain} -> ${main}`);
    this.currentMain = main;
  }

  private readRecord(revision: Revision): KeyValue {
    return decodeKeyValue(this.readRecordBytes(revision));
  }

  /** The checked KeyValue bytes of a record; valid until the next backend read. */
  private readRecordBytes(revision: Revision): Uint8Array {
    const revisionBytes = encodeRevision(revision);
    const bytes = this.keyTable.getUnsafe(revisionBytes);
    if (bytes === undefined) {
      throw new MvccCorruptError(`mvcc: index points at revision ${revision.main}.${revision.sub}, which the backend does not have`);
    }
    return openRecord(revisionBytes, bytes, this.location);
  }

  /** Keeps compaction from removing what a read at `atMain` needs; returns the release. */
  private pinRead(atMain: number): () => void {
    this.pinnedReads.set(atMain, (this.pinnedReads.get(atMain) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.pinnedReads.get(atMain)! - 1;
      if (left === 0) this.pinnedReads.delete(atMain);
      else this.pinnedReads.set(atMain, left);
      const lowest = this.lowestPinnedRead();
      for (let index = this.pinWaiters.length - 1; index >= 0; index--) {
        const waiter = this.pinWaiters[index]!;
        if (lowest >= waiter.below) {
          this.pinWaiters.splice(index, 1);
          waiter.resolve();
        }
      }
    };
  }

  private lowestPinnedRead(): number {
    let lowest = Infinity;
    for (const revision of this.pinnedReads.keys()) lowest = Math.min(lowest, revision);
    return lowest;
  }

  /** Resolves once no pinned read is below `revision` (reads starting later cannot be: they fail). */
  private pinnedReadsBelow(revision: number): Promise<void> {
    if (this.lowestPinnedRead() >= revision) return Promise.resolve();
    return new Promise((resolve) => this.pinWaiters.push({ below: revision, resolve }));
  }

  private compactIndex(atMain: number): Set<string> {
    const available = new Set<string>();
    const emptied: string[] = [];
    for (const keyIndex of this.index.values()) {
      if (keyIndex.compact(atMain, available)) emptied.push(keyIndex.key);
    }
    for (const key of emptied) this.index.delete(key);
    return available;
  }

  /** Deletes records at or below `atMain` not in `available`, in batches. */
  private async deleteCompactedRecords(atMain: number, available: Set<string>): Promise<void> {
    const upper = encodeMainRevisionLowerBound(atMain + 1);
    let from: Buffer | undefined;
    for (;;) {
      const doomed: Buffer[] = [];
      let scanned = 0;
      let next: Buffer | undefined;
      for (const { key } of this.keyTable.range(from, upper)) {
        if (scanned === compactionBatchRecords) {
          next = Buffer.from(key);
          break;
        }
        scanned++;
        if (!available.has(revisionKey(decodeRevision(key).revision))) doomed.push(Buffer.from(key));
      }
      const last = next === undefined;
      this.backend.write(() => {
        for (const key of doomed) this.keyTable.delete(key);
        if (last) this.metaTable.put(metaKeys.finishedCompactRevision, encodeRevision({ main: atMain, sub: 0 }));
      });
      if (last) return;
      from = next;
      // Let requests in between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private restore(warn: (message: string) => void): void {
    let maxMain = 1;
    const scheduled = this.readMetaRevision(metaKeys.scheduledCompactRevision);
    const finished = this.readMetaRevision(metaKeys.finishedCompactRevision);
    for (const { key: revisionBytes, value } of this.keyTable.range()) {
      let revision: Revision;
      let tombstone: boolean;
      let kv: KeyValueHeader;
      try {
        ({ revision, tombstone } = decodeRevision(revisionBytes));
        kv = decodeKeyValueHeader(openRecord(revisionBytes, value, this.location));
      } catch (error) {
        if (error instanceof MvccCorruptError) throw error;
        throw new MvccCorruptError(`mvcc: unreadable record in ${this.location} (key ${Buffer.from(revisionBytes).toString('hex')}): ${(error as Error).message}`);
      }
      const key = kv.key;
      // Records come in revision order, so the last one of a key decides.
      if (!tombstone && kv.lease !== 0n) this.restoredLeaseAttachments.set(key, kv.lease);
      else this.restoredLeaseAttachments.delete(key);
      if (tombstone) {
        const keyIndex = this.index.get(key);
        if (keyIndex === undefined || keyIndex.generations.length === 0) {
          // A tombstone whose puts were all compacted away: nothing to read.
          // Expected at the compaction revision (kept for watchers), not elsewhere.
          if (revision.main !== Math.max(scheduled, finished)) warn(`mvcc: tombstone at ${revision.main}.${revision.sub} for a key with no earlier record; skipped`);
        } else {
          keyIndex.tombstone(revision);
        }
      } else {
        const keyIndex = this.index.getOrCreateLikelyNew(key);
        if (keyIndex.generations.length === 0) {
          keyIndex.restore({ main: kv.createRevision, sub: 0 }, revision, kv.version);
        } else {
          keyIndex.put(revision);
        }
      }
      maxMain = Math.max(maxMain, revision.main);
    }
    // After compaction removed the newest tombstones the records alone would
    // put the revision back in time: never below the compaction.
    this.currentMain = Math.max(maxMain, scheduled, finished);
    this.compactedMain = Math.max(scheduled, finished);
    if (this.compactedMain > 0) {
      const available = this.compactIndex(this.compactedMain);
      if (scheduled > finished) {
        warn(`mvcc: resuming compaction at revision ${scheduled} interrupted before it finished`);
        this.compactionInFlight = this.deleteCompactedRecords(scheduled, available);
      }
    }
  }

  private readMetaRevision(key: Buffer): number {
    const bytes = this.metaTable.get(key);
    return bytes === undefined ? 0 : decodeRevision(bytes).revision.main;
  }
}

/**
 * The changes of one write request (one main revision). Reads inside it see
 * its own earlier writes, as in etcd.
 */
export class WriteTransaction {
  private readonly store: MvccStore;
  /** The store revision before this transaction. */
  readonly beginMain: number;
  readonly changes: Change[] = [];
  private ended = false;

  /** @internal use MvccStore.beginWrite() */
  constructor(store: MvccStore, beginMain: number) {
    this.store = store;
    this.beginMain = beginMain;
  }

  /** The main revision this transaction's writes get. */
  get writeMain(): number {
    return this.beginMain + 1;
  }

  /** The revision a read inside this transaction sees. */
  get readMain(): number {
    return this.changes.length > 0 ? this.beginMain + 1 : this.beginMain;
  }

  range(key: Uint8Array, rangeEnd: Uint8Array | undefined, options: RangeOptions = {}): RangeResult {
    this.assertOpen();
    return this.store.rangeAt(toKeyRange(key, rangeEnd), this.readMain, options);
  }

  /** Puts `value` under `key`; returns the stored KeyValue. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): KeyValue {
    this.assertOpen();
    const indexKey = bytesToKey(key);
    const keyIndex = this.store.treeIndex.getOrCreate(indexKey);
    const existing = keyIndex.generations.length === 0 ? undefined : keyIndex.get(this.writeMain);
    const revision: Revision = { main: this.writeMain, sub: this.changes.length };
    const kv: KeyValue = {
      key: copyBytes(key),
      createRevision: existing === undefined ? revision.main : existing.created.main,
      modRevision: revision.main,
      version: existing === undefined ? 1 : existing.version + 1,
      value: copyBytes(value),
      lease,
    };
    const revisionBytes = encodeRevision(revision);
    this.store.keys.put(revisionBytes, sealRecord(revisionBytes, encodeKeyValue(kv)));
    keyIndex.put(revision);
    this.changes.push({ kind: 'put', kv });
    return kv;
  }

  /** Deletes every key in range; returns the deleted keys (as they were). */
  deleteRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyValue[] {
    this.assertOpen();
    const range = toKeyRange(key, rangeEnd);
    const { kvs } = this.store.rangeAt(range, this.readMain, {});
    for (const previous of kvs) {
      const revision: Revision = { main: this.writeMain, sub: this.changes.length };
      const tombstoneKv: KeyValue = { key: previous.key, createRevision: 0, modRevision: 0, version: 0, value: emptyBytes, lease: 0n };
      const revisionBytes = encodeRevision(revision, true);
      this.store.keys.put(revisionBytes, sealRecord(revisionBytes, encodeKeyValue(tombstoneKv)));
      this.store.treeIndex.getOrCreate(bytesToKey(previous.key)).tombstone(revision);
      this.changes.push({ kind: 'delete', kv: { ...tombstoneKv, modRevision: revision.main } });
    }
    return kvs;
  }

  /** Ends the transaction; the store revision advances if anything changed. */
  end(): number {
    this.assertOpen();
    this.ended = true;
    if (this.changes.length > 0) this.store.advanceTo(this.writeMain);
    return this.store.currentRevision;
  }

  private assertOpen(): void {
    if (this.ended) throw new Error('mvcc: write transaction already ended');
  }
}

function copyBytes(bytes: Uint8Array): Uint8Array {
  return bytes.length === 0 ? emptyBytes : Uint8Array.prototype.slice.call(bytes);
}

export { keyToBytes };

/**
 * The write-ahead log. See format.ts (and the package README) for the bytes.
 *
 * Durability contract: when `sync()` (or `appendAndSync`, or
 * `saveSnapshotMarker`) resolves, every record passed to an `append` call made
 * before it is on stable storage and will be returned by `Wal.open` after any
 * crash. Records appended but not synced may or may not survive a crash; if
 * some survive, they are a prefix of what was appended (never a gap, never
 * altered bytes). A failed write or fdatasync puts the WAL into a failed state
 * in which every later operation rejects with the same {@link WalWriteError}.
 *
 * Operations are serialised in call order on an internal queue, so a caller
 * can fire `append` for batch N+1 while `sync` for batch N is still running;
 * group commit itself (collecting proposals while a sync is in flight) is the
 * caller's job: collect, then one `appendAndSync` = one write + one fdatasync.
 */
import {
  WalClosedError,
  WalCorruptError,
  WalExistsError,
  WalNotFoundError,
  WalRecordTooLargeError,
  WalWriteError,
} from '../errors.js';
import { joinPath, parentPath, type WalFile, type WalFileSystem } from './fs.js';
import { NodeWalFileSystem } from './node-fs.js';
import {
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_SEGMENT_SIZE_BYTES,
  ENTRY_FIXED_PAYLOAD_BYTES,
  HARD_STATE_PAYLOAD_BYTES,
  MAX_RECORD_BYTES_LIMIT,
  MIN_SEGMENT_SIZE_BYTES,
  RecordType,
  RecordWriter,
  SEGMENT_HEADER_PAYLOAD_BYTES,
  SNAPSHOT_MARKER_PAYLOAD_BYTES,
  WAL_FORMAT_VERSION,
  assertMemberId,
  assertU64,
  decodeEntry,
  decodeHardState,
  decodeSegmentHeader,
  decodeSnapshotMarker,
  parseSegmentName,
  recordSize,
  scanRecords,
  segmentName,
  type HardState,
  type SnapshotMarker,
  type WalEntry,
} from './format.js';

/** Receives warnings (torn tails truncated, leftover temp files removed). */
export interface WalLogger {
  warn(message: string, details?: Record<string, unknown>): void;
}

/** Logs to stderr via console.warn. */
export const consoleWalLogger: WalLogger = {
  warn(message, details) {
    if (details) console.warn(message, details);
    else console.warn(message);
  },
};

export interface WalOptions {
  /** File system to use; default {@link NodeWalFileSystem}. */
  fs?: WalFileSystem;
  /** Start a new segment once the current one reaches this size; default 64 MiB. */
  segmentSizeBytes?: number;
  /** Largest record payload accepted on append and on read; default 16 MiB. */
  maxRecordBytes?: number;
  /** Warnings go here; default {@link consoleWalLogger}. */
  logger?: WalLogger;
}

export interface WalCreateOptions extends WalOptions {
  /** Opaque bytes stored once for the life of the WAL (e.g. cluster and member id). */
  metadata?: Uint8Array;
}

export interface WalOpenOptions extends WalOptions {
  /**
   * Return the entries after this index (the index of the snapshot the caller
   * restored). Default: the index of the newest snapshot marker in the WAL.
   */
  snapshotIndex?: number;
}

export interface WalBatch {
  entries?: readonly WalEntry[];
  hardState?: HardState;
}

/** What `Wal.open` recovered. */
export interface WalReadResult {
  metadata: Uint8Array;
  /** The newest hard state; {term: 0, vote: 0n, commit: 0} if none was ever saved. */
  hardState: HardState;
  /** Entries with index > the snapshot index, contiguous, newest version of each. */
  entries: WalEntry[];
  /** The newest snapshot marker (the WAL is created with {index: 0, term: 0}). */
  snapshotMarker: SnapshotMarker;
}

export interface WalOpenResult extends WalReadResult {
  wal: Wal;
}

export interface WalSegmentInfo {
  sequence: number;
  firstIndex: number;
  path: string;
  /** Highest entry index stored in the segment, -1 if it holds none. */
  maxEntryIndex: number;
}

interface Settings {
  dir: string;
  fs: WalFileSystem;
  segmentSizeBytes: number;
  maxRecordBytes: number;
  logger: WalLogger;
}

interface WriteJob {
  buffer: Buffer;
  lastCrc: number;
  lastIndexAfter: number;
  hardStateAfter: HardState | undefined;
  maxEntryIndex: number;
  marker: SnapshotMarker | undefined;
  sync: boolean;
}

const zeroHardState: HardState = Object.freeze({ term: 0, vote: 0n, commit: 0 });

export class Wal {
  private readonly settings: Settings;
  private readonly metadata: Uint8Array;
  private readonly segmentList: WalSegmentInfo[];
  private file: WalFile;
  /** Bytes in the current (last) segment. */
  private size: number;
  /** crc field of the last record in the current segment. */
  private lastCrc: number;
  /** Whether bytes were written since the last fdatasync. */
  private dirty = false;
  /** Last entry index as of every accepted call (validation of later calls). */
  private pendingLastIndex: number;
  private pendingHardState: HardState | undefined;
  private newestMarker: SnapshotMarker;
  private markerSegmentSequence: number;
  private failureError: WalWriteError | undefined;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(init: {
    settings: Settings;
    metadata: Uint8Array;
    segments: WalSegmentInfo[];
    file: WalFile;
    size: number;
    lastCrc: number;
    lastIndex: number;
    hardState: HardState | undefined;
    newestMarker: SnapshotMarker;
    markerSegmentSequence: number;
  }) {
    this.settings = init.settings;
    this.metadata = init.metadata;
    this.segmentList = init.segments;
    this.file = init.file;
    this.size = init.size;
    this.lastCrc = init.lastCrc;
    this.pendingLastIndex = init.lastIndex;
    this.pendingHardState = init.hardState;
    this.newestMarker = init.newestMarker;
    this.markerSegmentSequence = init.markerSegmentSequence;
  }

  // ---- lifecycle -------------------------------------------------------------------

  /** Whether `dir` holds WAL segment files. */
  static async exists(dir: string, fs: WalFileSystem = new NodeWalFileSystem()): Promise<boolean> {
    const stat = await fs.stat(dir);
    if (!stat?.isDirectory) return false;
    return (await fs.readdir(dir)).some((name) => parseSegmentName(name) !== null);
  }

  /**
   * Creates a new WAL in `dir` (which must not exist or be empty) and opens it.
   * The first segment is built in `${dir}.tmp`, fsynced, and renamed into
   * place, so a crash never leaves a half-made WAL that looks valid.
   */
  static async create(dir: string, options: WalCreateOptions = {}): Promise<Wal> {
    const settings = resolveSettings(dir, options);
    const { fs } = settings;
    const metadata = options.metadata ?? new Uint8Array(0);
    if (metadata.length > settings.maxRecordBytes) {
      throw new WalRecordTooLargeError(metadata.length, settings.maxRecordBytes, 'metadata');
    }
    const existing = await fs.stat(settings.dir);
    if (existing) {
      if (!existing.isDirectory) throw new WalExistsError(settings.dir);
      const names = await fs.readdir(settings.dir);
      if (names.length > 0) throw new WalExistsError(settings.dir);
    }
    const parent = parentPath(settings.dir);
    const tmpDir = `${settings.dir}.tmp`;
    try {
      await fs.mkdir(parent, { recursive: true });
      if (await fs.stat(tmpDir)) {
        for (const name of await fs.readdir(tmpDir)) await fs.unlink(joinPath(tmpDir, name));
        await fs.rmdir(tmpDir);
      }
      await fs.mkdir(tmpDir);
      const writer = new RecordWriter(
        recordSize(SEGMENT_HEADER_PAYLOAD_BYTES) + recordSize(metadata.length) + recordSize(SNAPSHOT_MARKER_PAYLOAD_BYTES),
      );
      writer.segmentHeader({ formatVersion: WAL_FORMAT_VERSION, sequence: 0, firstIndex: 1, prevCrc: 0 });
      writer.metadata(metadata);
      writer.snapshotMarker({ index: 0, term: 0 });
      const file = await fs.openAppend(joinPath(tmpDir, segmentName(0, 1)), { exclusive: true });
      try {
        await file.append(writer.buffer);
        await file.datasync();
      } finally {
        await file.close();
      }
      await fs.fsyncDirectory(tmpDir);
      if (existing) await fs.rmdir(settings.dir);
      await fs.rename(tmpDir, settings.dir);
      await fs.fsyncDirectory(parent);
    } catch (error) {
      throw WalWriteError.from(error, 'create');
    }
    const { wal } = await Wal.open(settings.dir, options);
    return wal;
  }

  /**
   * Reads and validates every segment, truncates a torn tail of the last
   * segment (with a warning), and returns the recovered state plus a WAL
   * ready for appends. Throws {@link WalCorruptError} on anything else.
   */
  static async open(dir: string, options: WalOpenOptions = {}): Promise<WalOpenResult> {
    const settings = resolveSettings(dir, options);
    if (options.snapshotIndex !== undefined) assertU64(options.snapshotIndex, 'snapshotIndex');
    const replayed = await replay(settings, options.snapshotIndex);
    const { fs, logger } = settings;
    const last = replayed.segments[replayed.segments.length - 1]!;
    let file: WalFile;
    try {
      if (replayed.tornOffset !== undefined) {
        await fs.truncate(last.path, replayed.tornOffset);
      }
      file = await fs.openAppend(last.path);
      // Always sync what was just replayed: after a failed write or fsync and a
      // process restart (no machine crash) the replayed bytes may exist only in
      // the page cache; Raft will act on them (e.g. acknowledge them to a
      // leader), so they must be durable before anything else happens. The
      // directory sync covers a segment whose creation was not yet made durable.
      await file.datasync();
      for (const name of replayed.leftovers) {
        logger.warn(`wal: removing leftover temporary file ${joinPath(settings.dir, name)}`);
        await fs.unlink(joinPath(settings.dir, name));
      }
      await fs.fsyncDirectory(settings.dir);
    } catch (error) {
      throw WalWriteError.from(error, 'open');
    }
    const wal = new Wal({
      settings,
      metadata: replayed.metadata,
      segments: replayed.segments,
      file,
      size: replayed.tornOffset ?? replayed.lastSize,
      lastCrc: replayed.lastCrc,
      lastIndex: replayed.lastIndex,
      hardState: replayed.hardState,
      newestMarker: replayed.newestMarker,
      markerSegmentSequence: replayed.markerSegmentSequence,
    });
    return {
      wal,
      metadata: replayed.metadata.slice(),
      hardState: { ...(replayed.hardState ?? zeroHardState) },
      entries: replayed.entries,
      snapshotMarker: { ...replayed.newestMarker },
    };
  }

  /**
   * Waits for queued operations, fdatasyncs unsynced appends (unless failed)
   * and closes the current segment. Later calls reject with WalClosedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      if (!this.failureError && this.dirty) {
        try {
          await this.file.datasync();
          this.dirty = false;
        } catch (error) {
          throw this.fail(error, 'fdatasync');
        }
      }
    } finally {
      await this.file.close().catch(() => undefined);
    }
  }

  // ---- writing ---------------------------------------------------------------------

  /**
   * Encodes `entries` (then `hardState`) into one buffer and appends it with a
   * single write call. Not durable until {@link sync}. Entries must continue
   * the log (index <= lastIndex + 1; a lower index replaces the tail from there,
   * as a new Raft leader does), and must not replace committed entries.
   */
  async append(entries: readonly WalEntry[], hardState?: HardState): Promise<void> {
    this.checkUsable();
    const job = this.prepare(entries, hardState, undefined, false);
    if (!job) return;
    return this.enqueue(() => this.runWrite(job));
  }

  /** fdatasyncs the current segment (a no-op when nothing was written since the last sync). */
  async sync(): Promise<void> {
    this.checkUsable();
    return this.enqueue(() => this.runSync());
  }

  /** `append` + `sync` as one queued operation: one write call, one fdatasync. */
  async appendAndSync(batch: WalBatch): Promise<void> {
    this.checkUsable();
    const job = this.prepare(batch.entries ?? [], batch.hardState, undefined, true);
    if (!job) return this.enqueue(() => this.runSync());
    return this.enqueue(() => this.runWrite(job));
  }

  /**
   * Appends a snapshot marker and syncs. Call it after the snapshot itself is
   * durable (e.g. after `Snapshotter.saveSnapshot`): entries up to
   * `marker.index` may then be released. A marker beyond the last entry (a
   * snapshot received from the leader) makes `marker.index + 1` the next index.
   */
  async saveSnapshotMarker(marker: SnapshotMarker): Promise<void> {
    this.checkUsable();
    const job = this.prepare([], undefined, marker, true);
    return this.enqueue(() => this.runWrite(job!));
  }

  /**
   * Deletes the oldest segments whose entries are all < `index` and covered by
   * the newest snapshot marker, never the segment holding that marker or any
   * later one. fsyncs the directory after each unlink (so a crash cannot leave
   * a gap in the chain). Returns the deleted paths.
   */
  async releaseBefore(index: number): Promise<string[]> {
    this.checkUsable();
    assertU64(index, 'index');
    return this.enqueue(async () => {
      const removed: string[] = [];
      const { fs, dir } = this.settings;
      while (this.segmentList.length > 1) {
        const oldest = this.segmentList[0]!;
        if (oldest.sequence >= this.markerSegmentSequence) break;
        if (oldest.maxEntryIndex >= index || oldest.maxEntryIndex > this.newestMarker.index) break;
        try {
          await fs.unlink(oldest.path);
          await fs.fsyncDirectory(dir);
        } catch (error) {
          // Not a failed state: nothing acknowledged depends on the deletion.
          throw WalWriteError.from(error, 'release');
        }
        this.segmentList.shift();
        removed.push(oldest.path);
      }
      return removed;
    });
  }

  // ---- introspection ------------------------------------------------------------

  get directory(): string {
    return this.settings.dir;
  }

  /** Index of the last entry (or snapshot marker jump) accepted so far. */
  get lastIndex(): number {
    return this.pendingLastIndex;
  }

  /** The newest hard state accepted so far. */
  get hardState(): HardState {
    return { ...(this.pendingHardState ?? zeroHardState) };
  }

  /** The newest snapshot marker written (or replayed). */
  get snapshotMarker(): SnapshotMarker {
    return { ...this.newestMarker };
  }

  /** The WAL's metadata bytes (a copy). */
  get metadataBytes(): Uint8Array {
    return this.metadata.slice();
  }

  /** The error that failed the WAL, if any. */
  get failure(): WalWriteError | undefined {
    return this.failureError;
  }

  /** The live segments, oldest first. */
  get segments(): WalSegmentInfo[] {
    return this.segmentList.map((segment) => ({ ...segment }));
  }

  // ---- internals ---------------------------------------------------------------------

  private checkUsable(): void {
    if (this.closed) throw new WalClosedError();
    if (this.failureError) throw this.failureError;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.failureError) throw this.failureError;
      return task();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private fail(error: unknown, operation: string): WalWriteError {
    this.failureError ??= WalWriteError.from(error, operation);
    return this.failureError;
  }

  /** Validates and encodes synchronously (so call order = log order). */
  private prepare(
    entries: readonly WalEntry[],
    hardState: HardState | undefined,
    marker: SnapshotMarker | undefined,
    sync: boolean,
  ): WriteJob | null {
    const { maxRecordBytes } = this.settings;
    let lastIndex = this.pendingLastIndex;
    let size = 0;
    let maxEntryIndex = -1;
    const commit = this.pendingHardState?.commit ?? 0;
    for (const entry of entries) {
      assertU64(entry.index, 'entry index');
      assertU64(entry.term, 'entry term');
      if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 255) {
        throw new RangeError(`wal: entry type must be an integer in [0, 255], got ${entry.type}`);
      }
      if (!(entry.data instanceof Uint8Array)) throw new TypeError('wal: entry data must be a Uint8Array');
      if (entry.index < 1) throw new RangeError('wal: entry index must be >= 1');
      if (entry.index > lastIndex + 1) {
        throw new RangeError(`wal: entry index ${entry.index} would leave a gap after index ${lastIndex}`);
      }
      if (entry.index <= lastIndex && entry.index <= commit) {
        throw new RangeError(`wal: entry index ${entry.index} would replace a committed entry (commit ${commit})`);
      }
      const payload = ENTRY_FIXED_PAYLOAD_BYTES + entry.data.length;
      if (payload > maxRecordBytes) throw new WalRecordTooLargeError(payload, maxRecordBytes, `entry ${entry.index}`);
      size += recordSize(payload);
      lastIndex = entry.index;
      if (entry.index > maxEntryIndex) maxEntryIndex = entry.index;
    }
    if (hardState) {
      assertU64(hardState.term, 'hard state term');
      assertMemberId(hardState.vote, 'hard state vote');
      assertU64(hardState.commit, 'hard state commit');
      size += recordSize(HARD_STATE_PAYLOAD_BYTES);
    }
    if (marker) {
      assertU64(marker.index, 'snapshot marker index');
      assertU64(marker.term, 'snapshot marker term');
      size += recordSize(SNAPSHOT_MARKER_PAYLOAD_BYTES);
      if (marker.index > lastIndex) lastIndex = marker.index;
    }
    if (size === 0) return null;
    const writer = new RecordWriter(size);
    for (const entry of entries) writer.entry(entry);
    if (hardState) writer.hardState(hardState);
    if (marker) writer.snapshotMarker(marker);
    this.pendingLastIndex = lastIndex;
    if (hardState) this.pendingHardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    return {
      buffer: writer.buffer,
      lastCrc: writer.lastCrc,
      lastIndexAfter: lastIndex,
      hardStateAfter: this.pendingHardState,
      maxEntryIndex,
      marker: marker ? { index: marker.index, term: marker.term } : undefined,
      sync,
    };
  }

  private async runWrite(job: WriteJob): Promise<void> {
    // A synced write that leaves the segment below its size limit and
    // follows nothing unsynced is made durable by the write itself.
    const durableWrite = job.sync && !this.dirty && this.size + job.buffer.length < this.settings.segmentSizeBytes;
    try {
      if (durableWrite) await this.file.appendDurable(job.buffer);
      else await this.file.append(job.buffer);
    } catch (error) {
      throw this.fail(error, 'write');
    }
    this.size += job.buffer.length;
    this.lastCrc = job.lastCrc;
    this.dirty = !durableWrite;
    const current = this.segmentList[this.segmentList.length - 1]!;
    if (job.maxEntryIndex > current.maxEntryIndex) current.maxEntryIndex = job.maxEntryIndex;
    if (job.marker && job.marker.index >= this.newestMarker.index) {
      this.newestMarker = job.marker;
      this.markerSegmentSequence = current.sequence;
    }
    if (this.size >= this.settings.segmentSizeBytes) {
      await this.cut(job.lastIndexAfter, job.hardStateAfter);
    } else if (job.sync && !durableWrite) {
      await this.runSync();
    }
  }

  private async runSync(): Promise<void> {
    if (!this.dirty) return;
    try {
      await this.file.datasync();
    } catch (error) {
      throw this.fail(error, 'fdatasync');
    }
    this.dirty = false;
  }

  /** Rotation: sync + close the full segment, create the next one atomically. */
  private async cut(lastIndex: number, hardState: HardState | undefined): Promise<void> {
    const { fs, dir } = this.settings;
    const previous = this.segmentList[this.segmentList.length - 1]!;
    const sequence = previous.sequence + 1;
    const firstIndex = lastIndex + 1;
    const path = joinPath(dir, segmentName(sequence, firstIndex));
    const tmpPath = `${path}.tmp`;
    let operation = 'fdatasync';
    try {
      await this.file.datasync();
      this.dirty = false;
      operation = 'segment rotation';
      await this.file.close();
      if (await fs.stat(tmpPath)) await fs.unlink(tmpPath);
      const writer = new RecordWriter(
        recordSize(SEGMENT_HEADER_PAYLOAD_BYTES) +
          recordSize(this.metadata.length) +
          (hardState ? recordSize(HARD_STATE_PAYLOAD_BYTES) : 0),
      );
      writer.segmentHeader({ formatVersion: WAL_FORMAT_VERSION, sequence, firstIndex, prevCrc: this.lastCrc });
      writer.metadata(this.metadata);
      if (hardState) writer.hardState(hardState);
      const tmpFile = await fs.openAppend(tmpPath, { exclusive: true });
      try {
        await tmpFile.append(writer.buffer);
        await tmpFile.datasync();
      } finally {
        await tmpFile.close();
      }
      await fs.rename(tmpPath, path);
      await fs.fsyncDirectory(dir);
      this.file = await fs.openAppend(path);
      this.segmentList.push({ sequence, firstIndex, path, maxEntryIndex: -1 });
      this.size = writer.buffer.length;
      this.lastCrc = writer.lastCrc;
    } catch (error) {
      throw this.fail(error, operation);
    }
  }
}

// ---- options -------------------------------------------------------------------------

function resolveSettings(dir: string, options: WalOptions): Settings {
  const segmentSizeBytes = options.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < MIN_SEGMENT_SIZE_BYTES) {
    throw new RangeError(`wal: segmentSizeBytes must be an integer >= ${MIN_SEGMENT_SIZE_BYTES}, got ${segmentSizeBytes}`);
  }
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 64 || maxRecordBytes > MAX_RECORD_BYTES_LIMIT) {
    throw new RangeError(`wal: maxRecordBytes must be an integer in [64, ${MAX_RECORD_BYTES_LIMIT}], got ${maxRecordBytes}`);
  }
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  return {
    dir: trimmed,
    fs: options.fs ?? new NodeWalFileSystem(),
    segmentSizeBytes,
    maxRecordBytes,
    logger: options.logger ?? consoleWalLogger,
  };
}

// ---- replay ----------------------------------------------------------------------------

interface Replayed {
  metadata: Uint8Array;
  hardState: HardState | undefined;
  entries: WalEntry[];
  newestMarker: SnapshotMarker;
  markerSegmentSequence: number;
  lastIndex: number;
  segments: WalSegmentInfo[];
  /** crc of the last valid record of the last segment. */
  lastCrc: number;
  /** Size of the last segment as read. */
  lastSize: number;
  /** Where to truncate the last segment (torn tail), if anywhere. */
  tornOffset: number | undefined;
  /** Names of leftover `*.wal.tmp` files (interrupted rotations). */
  leftovers: string[];
}

async function replay(settings: Settings, snapshotIndex: number | undefined): Promise<Replayed> {
  const { fs, dir, logger, maxRecordBytes } = settings;
  const stat = await fs.stat(dir);
  if (!stat?.isDirectory) throw new WalNotFoundError(dir);
  const names = await fs.readdir(dir);
  const leftovers = names.filter((name) => name.endsWith('.wal.tmp'));
  const found = names
    .map((name) => ({ name, parsed: parseSegmentName(name) }))
    .filter((item): item is { name: string; parsed: { sequence: number; firstIndex: number } } => item.parsed !== null)
    .sort((a, b) => a.parsed.sequence - b.parsed.sequence);
  if (found.length === 0) throw new WalNotFoundError(dir);
  for (let i = 1; i < found.length; i++) {
    const previous = found[i - 1]!;
    const current = found[i]!;
    if (current.parsed.sequence !== previous.parsed.sequence + 1) {
      throw new WalCorruptError(
        `wal: missing segment in ${joinPath(dir, current.name)} at offset 0 (sequence ${current.parsed.sequence} follows ${previous.parsed.sequence}; segment file missing before it)`,
        joinPath(dir, current.name),
        0,
      );
    }
  }

  let metadata: Uint8Array | undefined;
  let hardState: HardState | undefined;
  let newestMarker: SnapshotMarker | undefined;
  let markerSegmentSequence = -1;
  let lastIndex: number | undefined;
  let floor = snapshotIndex ?? 0;
  let entries: WalEntry[] = [];
  const segments: WalSegmentInfo[] = [];
  let previousCrc: number | undefined;
  let lastSize = 0;
  let tornOffset: number | undefined;

  for (let i = 0; i < found.length; i++) {
    const { name, parsed } = found[i]!;
    const path = joinPath(dir, name);
    const isLast = i === found.length - 1;
    const raw = await fs.readFile(path);
    const data = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const segment: WalSegmentInfo = { sequence: parsed.sequence, firstIndex: parsed.firstIndex, path, maxEntryIndex: -1 };
    const corrupt = (offset: number, problem: string, detail: string): WalCorruptError =>
      new WalCorruptError(`wal: ${problem} in ${path} at offset ${offset} (${detail})`, path, offset);
    let recordNumber = 0;
    let segmentLastCrc = 0;

    const stop = scanRecords(data, maxRecordBytes, (record) => {
      const { offset, type, payload } = record;
      const what = `record type ${type}, length ${payload.length}`;
      if (recordNumber === 0) {
        if (type !== RecordType.segmentHeader) {
          throw corrupt(offset, 'bad segment header', `first record is type ${type}, not a segment header`);
        }
        const header = decodeSegmentHeader(payload);
        if (typeof header === 'string') throw corrupt(offset, 'bad segment header', header);
        if (header.sequence !== parsed.sequence || header.firstIndex !== parsed.firstIndex) {
          throw corrupt(
            offset,
            'bad segment header',
            `header says sequence ${header.sequence}, first index ${header.firstIndex}; file name says ${parsed.sequence}, ${parsed.firstIndex}`,
          );
        }
        if (previousCrc !== undefined && header.prevCrc !== previousCrc) {
          throw corrupt(
            offset,
            'broken segment chain',
            `header prevCrc 0x${header.prevCrc.toString(16)}, previous segment ends with crc 0x${previousCrc.toString(16)}`,
          );
        }
      } else {
        if (recordNumber === 1 && type !== RecordType.metadata) {
          throw corrupt(offset, 'missing metadata record', `second record is type ${type}`);
        }
        switch (type) {
          case RecordType.segmentHeader:
            throw corrupt(offset, 'unexpected segment header', what);
          case RecordType.metadata: {
            if (metadata === undefined) metadata = new Uint8Array(payload);
            else if (!Buffer.from(metadata.buffer, metadata.byteOffset, metadata.byteLength).equals(payload)) {
              throw corrupt(offset, 'metadata mismatch', `${what}; differs from the first segment's metadata`);
            }
            break;
          }
          case RecordType.entry: {
            const entry = decodeEntry(payload);
            if (typeof entry === 'string') throw corrupt(offset, 'malformed entry record', `${what}: ${entry}`);
            if (entry.index < 1) throw corrupt(offset, 'malformed entry record', `${what}: index 0`);
            if (lastIndex !== undefined && entry.index > lastIndex + 1) {
              throw corrupt(offset, 'non-contiguous entry index', `entry index ${entry.index} after ${lastIndex}`);
            }
            if (lastIndex !== undefined && entry.index <= lastIndex) {
              // A new leader replaced the uncommitted tail: keep the newest.
              while (entries.length > 0 && entries[entries.length - 1]!.index >= entry.index) entries.pop();
            }
            lastIndex = entry.index;
            if (entry.index > floor) entries.push(entry);
            if (entry.index > segment.maxEntryIndex) segment.maxEntryIndex = entry.index;
            break;
          }
          case RecordType.hardState: {
            const state = decodeHardState(payload);
            if (typeof state === 'string') throw corrupt(offset, 'malformed hard state record', `${what}: ${state}`);
            hardState = state;
            break;
          }
          case RecordType.snapshotMarker: {
            const marker = decodeSnapshotMarker(payload);
            if (typeof marker === 'string') throw corrupt(offset, 'malformed snapshot marker record', `${what}: ${marker}`);
            if (lastIndex === undefined || marker.index > lastIndex) {
              lastIndex = marker.index;
              entries = [];
            }
            if (newestMarker === undefined || marker.index >= newestMarker.index) {
              newestMarker = marker;
              markerSegmentSequence = parsed.sequence;
            }
            if (snapshotIndex === undefined && marker.index > floor) {
              floor = marker.index;
              const drop = entries.findIndex((e) => e.index > floor);
              entries = drop < 0 ? [] : entries.slice(drop);
            }
            break;
          }
        }
      }
      recordNumber += 1;
      segmentLastCrc = record.crc;
    });

    if (stop) {
      if (stop.offset === 0) throw corrupt(0, 'bad segment header', `${stop.problem}: ${stop.detail}`);
      if (stop.kind === 'corrupt' || !isLast) {
        const where = stop.kind === 'torn' ? `${stop.detail}; not the last segment` : stop.detail;
        throw corrupt(stop.offset, stop.problem, where);
      }
      logger.warn(
        `wal: truncating torn write at end of ${path} at offset ${stop.offset} (${stop.problem}: ${stop.detail}); dropping ${data.length - stop.offset} unacknowledged bytes`,
        { path, offset: stop.offset, droppedBytes: data.length - stop.offset },
      );
      tornOffset = stop.offset;
    }
    if (recordNumber === 0) throw corrupt(0, 'bad segment header', 'empty segment file');
    if (recordNumber === 1) throw corrupt(data.length, 'missing metadata record', 'segment ends after its header');
    previousCrc = segmentLastCrc;
    lastSize = data.length;
    segments.push(segment);
  }

  const first = entries[0];
  if (first !== undefined && first.index !== floor + 1) {
    const firstPath = segments[0]!.path;
    throw new WalCorruptError(
      `wal: entries missing in ${firstPath} at offset 0 (entries after index ${floor} are needed, the oldest one available is ${first.index})`,
      firstPath,
      0,
    );
  }
  if (newestMarker === undefined) {
    // Only possible if the segment with the marker was removed by hand.
    const firstPath = segments[0]!.path;
    throw new WalCorruptError(`wal: no snapshot marker in ${firstPath} at offset 0 (segments were removed)`, firstPath, 0);
  }
  return {
    metadata: metadata ?? new Uint8Array(0),
    hardState,
    entries,
    newestMarker,
    markerSegmentSequence,
    lastIndex: lastIndex ?? newestMarker.index,
    segments,
    lastCrc: previousCrc ?? 0,
    lastSize,
    tornOffset,
    leftovers,
  };
}

/**
 * The backend: where applied state lives (MVCC revisions, leases, members,
 * alarms, metadata), on lmdb.
 *
 * Durability contract. The write-ahead log is the source of truth; the
 * backend is a materialisation of the log up to `consistentIndex`, the index
 * of the last log entry whose effects it holds. Every write transaction that
 * applies entries also stores the new consistentIndex in the same lmdb
 * transaction, so data and index can never disagree (etcd 3.5.0-3.5.2 shipped
 * exactly that bug).
 *
 * Writes are batched, as etcd batches bbolt commits: write() records changes
 * in a buffer that reads see at once (write-buffer.ts), and the buffer is
 * committed to lmdb in one transaction every `batchIntervalMs`, or sooner
 * once `batchLimitOps` changes or `batchLimitBytes` bytes are pending.
 * Commits do not wait for fsync (lmdb-js overlappingSync): after a crash the
 * backend may be behind the log, never ahead and never torn, and recovery
 * replays the log from consistentIndex + 1. Before the log may drop entries,
 * the caller awaits `flushed()` (commit, then fsync) so that what it drops
 * is in the backend on disk.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync, statSync, renameSync, rmSync, existsSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { open as openFile, rm } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { BackendCorruptError, BackendError, DefragmentAbortedError } from './errors.js';
import { binaryTableOptions } from './value-copy.js';
import { PendingTable, keyString, mergeAscending, mergeDescending, type UndoRecord } from './write-buffer.js';

/** Names of the tables (lmdb sub-databases) the server uses. */
export const backendTableNames = ['key', 'meta', 'lease', 'members', 'alarm', 'auth', 'authUsers', 'authRoles'] as const;
export type BackendTableName = (typeof backendTableNames)[number];

/** The file lmdb keeps the data in, inside the backend directory. */
export const backendFileName = 'data.mdb';

export interface BackendOptions {
  /** Directory holding the lmdb files (created if missing). */
  readonly directory: string;
  /**
   * Address space reserved for the memory map. lmdb cannot grow past it, so it
   * is set well above the quota; it costs virtual memory only.
   */
  readonly mapSizeBytes?: number;
  /** Longest a write waits in the buffer before it is committed to lmdb (etcd's --backend-batch-interval: 100 ms). */
  readonly batchIntervalMs?: number;
  /** Pending changes that force a commit (etcd's --backend-batch-limit: 10,000). */
  readonly batchLimitOps?: number;
  /** Pending bytes (keys and values) that force a commit. */
  readonly batchLimitBytes?: number;
  /**
   * Called as defragment() passes each step, for crash tests (a test kills
   * the process there). Not for production use.
   */
  readonly onDefragmentStep?: (step: DefragmentStep) => void;
}

/**
 * The steps of defragment(), in order; each is a crash point the recovery
 * in Backend.open() handles (see defragment()).
 */
export type DefragmentStep = 'copying' | 'copied' | 'ready' | 'moved-live-aside' | 'moved-copy-in' | 'switched';

export const defaultBatchIntervalMs = 100;
export const defaultBatchLimitOps = 10_000;
export const defaultBatchLimitBytes = 32 * 1024 * 1024;

/** Default map size: 64 GiB of address space, far above the 8 GiB etcd quota ceiling. */
export const defaultMapSizeBytes = 64 * 1024 * 1024 * 1024;

/**
 * Record bytes (keys and values) defragment() copies in one synchronous
 * step before it yields to the event loop. Reading a record through lmdb-js
 * and appending it costs 10-30 us (measured: 1 KiB values, idle to loaded
 * 2-core machine), so 1 MiB of 1 KiB values is 10-30 ms: reads, /health and
 * timers wait at most about that long behind the copy, however large the
 * backend is.
 */
export const defragmentBatchBytes = 1024 * 1024;

/** Records copied per step at most, for tables of small records (the same 10-30 ms bound). */
export const defragmentBatchRecords = 1_000;

/** A binary key -> binary value table. Keys sort bytewise. */
export interface BackendTable {
  get(key: Uint8Array): Buffer | undefined;
  /**
   * Like get, but the returned buffer is reused by the next read: copy what
   * must outlive the current synchronous step.
   */
  getUnsafe(key: Uint8Array): Buffer | undefined;
  /** Ascending over [start, end) (end undefined = to the last key). */
  range(start?: Uint8Array, end?: Uint8Array, limit?: number): Iterable<{ key: Buffer; value: Buffer }>;
  /** Descending from just below `end` (undefined = the last key) down to `start` inclusive. */
  rangeReverse(start?: Uint8Array, end?: Uint8Array, limit?: number): Iterable<{ key: Buffer; value: Buffer }>;
  /** Must be called inside Backend.write(). */
  put(key: Uint8Array, value: Uint8Array): void;
  /** Must be called inside Backend.write(). */
  delete(key: Uint8Array): void;
  count(): number;
}

export class Backend {
  readonly directory: string;
  private readonly options: BackendOptions;
  private root: RootDatabase;
  private readonly databases = new Map<BackendTableName, Database<Buffer, Buffer>>();
  private readonly tables = new Map<BackendTableName, BackendTable>();
  private readonly pending = new Map<BackendTableName, PendingTable>();
  /** Changes of the write in progress, to undo if it throws. */
  private undo: UndoRecord[] = [];
  private pendingOps = 0;
  private pendingBytes = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly commitErrorListeners: Array<(error: BackendError) => void> = [];
  private inWrite = false;
  private closed = false;
  /** data.mdb's size as of the last commit (see sizeBytes). */
  private fileSizeBytes = 0;
  /** The defragment() in progress; commits wait for it (writes stay pending and readable). */
  private defragmentRun: Promise<void> | undefined;
  /** The copyTo() in progress; commits wait for it too (see copyTo). */
  private copyRun: Promise<void> | undefined;
  /** Set by close(): a defragment in progress stops at its next step and leaves the live file as it was. */
  private closing = false;

  private constructor(options: BackendOptions, root: RootDatabase) {
    this.directory = options.directory;
    this.options = options;
    this.root = root;
    this.openDatabases();
    this.refreshFileSize();
    for (const name of backendTableNames) {
      const pending = new PendingTable();
      this.pending.set(name, pending);
      // Tables look their database up on every call, so they stay valid
      // when defragment() swaps the environment underneath.
      this.tables.set(
        name,
        wrapTable(() => this.databases.get(name)!, pending, (key, value) => {
          this.assertWriting();
          this.record(pending, key, value);
        }),
      );
    }
  }

  /** Opens (or creates) the backend in `options.directory`, first finishing or undoing a defragment a crash interrupted. */
  static open(options: BackendOptions): Backend {
    Backend.recoverInterruptedDefragment(options.directory);
    mkdirSync(options.directory, { recursive: true });
    return new Backend(options, openEnvironment(options.directory, options));
  }

  /**
   * Puts the backend directory back in a servable state after a crash during
   * defragment(): a copy that never became complete is deleted; a complete
   * copy takes the live file's place only if the live file was already moved
   * aside. Idempotent; open() calls it, and so should anything that reads
   * the directory before open() (the start-up verification).
   */
  static recoverInterruptedDefragment(directory: string): void {
    const { buildDirectory, readyDirectory, asideDirectory } = siblingDirectories(directory);
    // Before 'ready' the copy may be partial or not on disk: never used.
    rmSync(buildDirectory, { recursive: true, force: true });
    const liveFile = join(directory, backendFileName);
    if (existsSync(join(readyDirectory, backendFileName))) {
      if (existsSync(liveFile)) {
        // Crashed between 'ready' and moving the live file aside. Writes were
        // held during the copy, so the live file holds the same data: keep it.
        rmSync(readyDirectory, { recursive: true, force: true });
      } else {
        // Crashed after moving the live file aside: the complete, fsynced copy takes over.
        rmSync(directory, { recursive: true, force: true });
        renameSync(readyDirectory, directory);
        fsyncDirectory(dirname(directory));
      }
    }
    if (existsSync(asideDirectory)) {
      if (existsSync(liveFile) || !existsSync(join(asideDirectory, backendFileName))) {
        // The switch had finished: what is left is the old file, or what a
        // crash left of it while it was being deleted (lock.mdb, an empty
        // directory).
        rmSync(asideDirectory, { recursive: true, force: true });
      } else {
        // No live file and no complete copy: the protocol never leaves this,
        // but a directory an older version left half-swapped can. Serve the original.
        rmSync(directory, { recursive: true, force: true });
        renameSync(asideDirectory, directory);
        fsyncDirectory(dirname(directory));
      }
    }
  }

  private openDatabases(): void {
    for (const name of backendTableNames) {
      this.databases.set(name, this.root.openDB<Buffer, Buffer>(name, binaryTableOptions));
    }
  }

  table(name: BackendTableName): BackendTable {
    const table = this.tables.get(name);
    if (table === undefined) throw new BackendError(`backend: unknown table ${name}`);
    return table;
  }

  /**
   * Runs `fn` as one atomic write: reads see its changes at once, and they
   * reach lmdb together in one transaction. If `fn` throws, nothing it wrote
   * stays. Not reentrant.
   */
  write<T>(fn: () => T): T {
    this.assertOpen();
    if (this.inWrite) throw new BackendError('backend: nested write transaction');
    this.inWrite = true;
    this.undo = [];
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.rollBack();
      throw error;
    } finally {
      this.inWrite = false;
    }
    this.undo = [];
    if (this.pendingOps >= (this.options.batchLimitOps ?? defaultBatchLimitOps) || this.pendingBytes >= (this.options.batchLimitBytes ?? defaultBatchLimitBytes)) {
      this.commit();
    } else if (this.pendingOps > 0 && this.commitTimer === undefined) {
      this.commitTimer = setTimeout(() => {
        this.commitTimer = undefined;
        try {
          this.commit();
        } catch {
          // Reported to the commit-error listeners.
        }
      }, this.options.batchIntervalMs ?? defaultBatchIntervalMs);
      this.commitTimer.unref();
    }
    return result;
  }

  /** Called when a background commit fails (the disk is full, say): the server must stop. */
  onCommitError(listener: (error: BackendError) => void): void {
    this.commitErrorListeners.push(listener);
  }

  /** Changes written but not yet committed to lmdb. */
  get pendingChangeCount(): number {
    return this.pendingOps;
  }

  /**
   * Commits every pending change to lmdb in one transaction (not waiting
   * for fsync). Throws, and tells the commit-error listeners, if lmdb fails;
   * the changes then stay pending and readable.
   */
  commit(): void {
    this.assertOpen();
    if (this.inWrite) throw new BackendError('backend: commit inside a write transaction');
    if (this.commitTimer !== undefined) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    if (this.pendingOps === 0) return;
    // A copy (defragment's or copyTo's) reads the live file; it must not
    // change under it. What is written meanwhile stays pending (and
    // readable) until the copy ends.
    if (this.defragmentRun !== undefined || this.copyRun !== undefined) return;
    try {
      this.root.transactionSync(() => {
        for (const [name, table] of this.pending) {
          if (table.size === 0) continue;
          const database = this.databases.get(name)!;
          for (const [key, value] of table.entries.entries()) {
            const keyBytes = Buffer.from(key, 'latin1');
            if (value === null) database.removeSync(keyBytes);
            else database.putSync(keyBytes, value);
          }
        }
      });
    } catch (cause) {
      const error = new BackendError(`backend: commit to ${join(this.directory, backendFileName)} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      for (const listener of this.commitErrorListeners) listener(error);
      throw error;
    }
    for (const table of this.pending.values()) table.entries.clear();
    this.pendingOps = 0;
    this.pendingBytes = 0;
    this.refreshFileSize();
  }

  /** Commits what is pending, then resolves when every commit is on disk (fsynced). */
  async flushed(): Promise<void> {
    this.assertOpen();
    await this.copiesSettled();
    this.assertOpen();
    this.commit();
    await this.root.flushed;
  }

  /**
   * Bytes of the data file (the high-water mark of allocated pages). The
   * file only changes size when lmdb commits, so this is read from the disk
   * after each commit, open and defragment rather than on every call (the
   * server asks once per applied batch, for the quota).
   */
  sizeBytes(): number {
    return this.fileSizeBytes;
  }

  private refreshFileSize(): void {
    const file = join(this.directory, backendFileName);
    this.fileSizeBytes = existsSync(file) ? statSync(file).size : 0;
  }

  /** Bytes in pages that hold data now (the file minus free pages). */
  sizeInUseBytes(): number {
    this.commit();
    // Pages reachable from the trees: every table's branch, leaf and
    // overflow pages, the main tree that names the tables, and the two meta
    // pages. What the file holds beyond that is free (reusable) space.
    const root = this.root.getStats() as PageStats & { pageSize: number };
    let pages = metaPageCount + treePages(root);
    for (const database of this.databases.values()) pages += treePages(database.getStats() as PageStats);
    return pages * root.pageSize;
  }

  /**
   * Writes a consistent copy of the whole backend into `directory` (created
   * if missing) as `data.mdb`, and returns that file's path (the Snapshot
   * RPC streams it).
   *
   * lmdb's copy (mdb_env_copy2) reads the file under one read transaction
   * for as long as it takes (seconds per GiB). lmdb-js's fork of lmdb is
   * known to damage its freelist when commits go on under such a long
   * reader (see defragment()), so commits are held for the copy's
   * duration: writes stay pending and readable, and are committed when it
   * ends. One copy runs at a time.
   */
  async copyTo(directory: string): Promise<string> {
    this.assertOpen();
    // Awaited only when needed, so that a caller's next write already finds commits held.
    while (this.defragmentRun !== undefined || this.copyRun !== undefined) await this.copiesSettled();
    this.assertOpen();
    this.commit();
    mkdirSync(directory, { recursive: true });
    const target = join(directory, backendFileName);
    rmSync(target, { force: true });
    // lmdb copies an environment kept in a directory into a directory.
    const copy = (this.root as unknown as { backup(path: string, compact: boolean): Promise<void> }).backup(directory, false);
    this.copyRun = copy.then(
      () => {},
      () => {},
    );
    try {
      await copy;
    } finally {
      this.copyRun = undefined;
      this.commitHeldWrites();
    }
    return target;
  }

  /** Resolves once no copy (defragment or copyTo) holds commits. */
  private async copiesSettled(): Promise<void> {
    for (;;) {
      const running = this.defragmentRun ?? this.copyRun;
      if (running === undefined) return;
      await running.catch(() => {});
    }
  }

  /** After a copy: commits what was written while it held commits. */
  private commitHeldWrites(): void {
    if (this.pendingOps === 0 || this.closed) return;
    try {
      this.commit();
    } catch {
      // Reported to the commit-error listeners.
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    await this.copiesSettled();
    if (this.closed) return;
    try {
      this.commit();
    } finally {
      this.closed = true;
      await this.root.close();
    }
  }

  /**
   * Rewrites the data file without free pages, into a new lmdb environment,
   * and switches to it. The caller should hold off writes while this runs
   * (the server quiesces its apply loop); writes made anyway are kept
   * pending and readable, and committed to the new file after the switch.
   * Reads are served throughout: the copy runs in steps of at most
   * `defragmentBatchBytes`, yielding to the event loop between steps.
   *
   * Why not lmdb's compacting copy (mdb_env_copy2 with MDB_CP_COMPACT, what
   * this did before): it holds one read transaction open for the whole copy
   * while the process keeps committing to the same environment, and lmdb-js's
   * forked freelist code (mdb_page_alloc / mdb_freelist_save) is known to
   * damage the freelist under exactly that pattern (HarperFast/harper#685,
   * #686, #689: "Invalid zero size key", "mdb_page_alloc error",
   * MDB_BAD_VALSIZE, then `Assertion 'key.mv_size > 0' failed in
   * mdb_page_alloc()` on every later start). Readers never touch the
   * freelist, so such a file reads cleanly and aborts the process on its
   * first write. This copy holds no read transaction across steps, commits
   * nothing to the live file while it runs, and writes the new file with
   * ordinary appends, so its freelist starts empty and consistent.
   *
   * Steps; a crash (kill -9, power loss) at any point leaves a servable
   * backend, which open() restores (recoverInterruptedDefragment):
   *   copying   records go into <dir>.defrag (unsynced; deleted on recovery);
   *   copied    the copy is fsynced and closed;
   *   ready     <dir>.defrag is renamed <dir>.ready, parent fsynced: from
   *             here a complete copy exists; the live file is still <dir>;
   *   moved-live-aside  <dir> is renamed <dir>.old (the old environment
   *             stays open for reads); recovery moves <dir>.ready in;
   *   moved-copy-in     <dir>.ready is renamed <dir>, parent fsynced;
   *   switched  the new environment is open at <dir>, the old one closed,
   *             <dir>.old deleted.
   */
  async defragment(): Promise<void> {
    this.assertOpen();
    if (this.defragmentRun !== undefined) throw new BackendError('backend: a defragment is already running');
    await this.copiesSettled();
    this.assertOpen();
    // Another caller may have started one while this one waited.
    if (this.defragmentRun !== undefined) throw new BackendError('backend: a defragment is already running');
    this.commit();
    const run = this.runDefragment();
    this.defragmentRun = run;
    try {
      await run;
    } finally {
      this.defragmentRun = undefined;
    }
    if (this.pendingOps > 0) this.commit();
  }

  private async runDefragment(): Promise<void> {
    const step = (name: DefragmentStep) => this.options.onDefragmentStep?.(name);
    const { buildDirectory, readyDirectory, asideDirectory } = siblingDirectories(this.directory);
    rmSync(buildDirectory, { recursive: true, force: true });
    rmSync(readyDirectory, { recursive: true, force: true });
    rmSync(asideDirectory, { recursive: true, force: true });
    // No fsync per commit: the file is fsynced once, whole, before it counts.
    const target = openEnvironment(buildDirectory, this.options, { noSync: true });
    try {
      step('copying');
      for (const name of backendTableNames) {
        await this.copyTable(this.databases.get(name)!, target.openDB<Buffer, Buffer>(name, { keyEncoding: 'binary', encoding: 'binary' }), target);
      }
      await target.close();
    } catch (error) {
      await target.close().catch(() => {});
      rmSync(buildDirectory, { recursive: true, force: true });
      throw error;
    }
    // fsync on the thread pool: the event loop keeps serving meanwhile.
    await fsyncFile(join(buildDirectory, backendFileName));
    // The lock file describes readers of the copy, of which there are none.
    rmSync(join(buildDirectory, 'lock.mdb'), { force: true });
    fsyncDirectory(buildDirectory);
    step('copied');
    if (this.closing) {
      rmSync(buildDirectory, { recursive: true, force: true });
      throw new DefragmentAbortedError();
    }
    renameSync(buildDirectory, readyDirectory);
    fsyncDirectory(dirname(this.directory));
    step('ready');
    // The switch. lmdb-js shares environments by the data file's inode, not
    // its path, so the copy opens as a new environment while the old one
    // stays open (and readable) under its new name.
    try {
      renameSync(this.directory, asideDirectory);
      step('moved-live-aside');
      renameSync(readyDirectory, this.directory);
      fsyncDirectory(dirname(this.directory));
      step('moved-copy-in');
      const previous = this.root;
      this.root = openEnvironment(this.directory, this.options);
      this.openDatabases();
      this.refreshFileSize();
      await previous.close();
    } catch (cause) {
      // Past 'ready' the directory no longer matches the open environment:
      // committing on would write to a file that is no longer the backend.
      const error = new BackendError(`backend: defragment of ${join(this.directory, backendFileName)} failed while switching files: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      for (const listener of this.commitErrorListeners) listener(error);
      throw error;
    }
    // Unlinking a file of gigabytes takes hundreds of milliseconds: off the event loop.
    await rm(asideDirectory, { recursive: true, force: true });
    step('switched');
  }

  /** Copies one table in key order, a bounded step at a time. */
  private async copyTable(source: Database<Buffer, Buffer>, target: Database<Buffer, Buffer>, targetRoot: RootDatabase): Promise<void> {
    let after: Buffer | undefined;
    for (;;) {
      if (this.closing) throw new DefragmentAbortedError();
      let records = 0;
      let bytes = 0;
      let finished = true;
      targetRoot.transactionSync(() => {
        for (const { key, value } of source.getRange({ start: after }) as Iterable<{ key: Buffer; value: Buffer }>) {
          if (after !== undefined && records === 0 && key.equals(after)) continue;
          if (records >= defragmentBatchRecords || bytes >= defragmentBatchBytes) {
            finished = false;
            break;
          }
          // In key order, so lmdb appends and fills every page.
          target.putSync(key, value, { append: true });
          records++;
          bytes += key.length + value.length;
          after = Buffer.from(key);
        }
      });
      if (finished) return;
      await yieldToEventLoop();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BackendError('backend: closed');
  }

  private assertWriting(): void {
    this.assertOpen();
    if (!this.inWrite) throw new BackendError('backend: write outside a write transaction');
  }

  /** Records a put (or a delete, `value` null) in the buffer, undoably. */
  private record(table: PendingTable, keyBytes: Uint8Array, value: Uint8Array | null): void {
    // lmdb refuses empty keys (MDB_BAD_VALSIZE) only when the batch is
    // committed, which would fail every write in it and stop the server.
    if (keyBytes.length === 0) throw new BackendError('backend: empty key');
    const key = keyString(keyBytes);
    const previous = table.entries.get(key);
    this.undo.push({ table, key, previous });
    // Copied: the caller may reuse its buffer once put() returns, as lmdb allowed.
    const stored = value === null ? null : Buffer.from(value);
    table.entries.set(key, stored);
    this.pendingOps++;
    this.pendingBytes += keyBytes.length + (stored?.length ?? 0);
  }

  private rollBack(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { table, key, previous } = this.undo[i]!;
      if (previous === undefined) table.entries.delete(key);
      else table.entries.set(key, previous);
    }
    this.pendingOps -= this.undo.length;
    this.undo = [];
  }
}

/** lmdb's two alternating meta pages at the start of the file. */
const metaPageCount = 2;

interface PageStats {
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}

function treePages(stats: PageStats): number {
  return stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages;
}

function openEnvironment(directory: string, options: BackendOptions, overrides: { noSync?: boolean } = {}): RootDatabase {
  try {
    return open({
      path: directory,
      // Always a directory holding data.mdb and lock.mdb; lmdb-js would
      // otherwise guess from the name (a dot in it means a file).
      noSubdir: false,
      maxDbs: backendTableNames.length + 4,
      compression: false,
      mapSize: options.mapSizeBytes ?? defaultMapSizeBytes,
      // Integrity after a crash comes from lmdb's meta-page protocol;
      // durability of acknowledged writes comes from the WAL.
      overlappingSync: overrides.noSync !== true,
      noSync: overrides.noSync === true,
    });
  } catch (error) {
    throw new BackendCorruptError(join(directory, backendFileName), error);
  }
}

/** Directories defragment() uses next to the backend directory. */
function siblingDirectories(directory: string): { buildDirectory: string; readyDirectory: string; asideDirectory: string } {
  const parent = dirname(directory);
  const name = basename(directory);
  return { buildDirectory: join(parent, `${name}.defrag`), readyDirectory: join(parent, `${name}.ready`), asideDirectory: join(parent, `${name}.old`) };
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await openFile(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes renames and removals in `directory` durable. */
function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A table: reads merge the pending buffer over lmdb; writes go to the buffer. */
function wrapTable(database: () => Database<Buffer, Buffer>, pending: PendingTable, record: (key: Uint8Array, value: Uint8Array | null) => void): BackendTable {
  const pendingValue = (key: Uint8Array) => (pending.size === 0 ? undefined : pending.entries.get(keyString(key)));
  return {
    get: (key) => {
      const value = pendingValue(key);
      return value === undefined ? database().getBinary(key as Buffer) : (value ?? undefined);
    },
    getUnsafe: (key) => {
      const value = pendingValue(key);
      return value === undefined ? database().getBinaryFast(key as Buffer) : (value ?? undefined);
    },
    range: (start, end, limit) => {
      const bounds = { start: start as Buffer | undefined, end: end as Buffer | undefined };
      // With nothing pending, lmdb applies the limit itself.
      if (pending.size === 0) return database().getRange({ ...bounds, limit }) as Iterable<{ key: Buffer; value: Buffer }>;
      return mergeAscending(database().getRange(bounds) as Iterable<{ key: Buffer; value: Buffer }>, pending, start, end, limit);
    },
    rangeReverse: (start, end, limit) => {
      if (pending.size === 0) return reverseRange(database(), start, end, limit);
      return mergeDescending(reverseRange(database(), start, end, undefined), pending, start, end, limit);
    },
    put: (key, value) => record(key, value),
    delete: (key) => record(key, null),
    count: () => {
      let count = database().getCount();
      for (const [key, value] of pending.entries.entries()) {
        const committed = database().doesExist(Buffer.from(key, 'latin1'));
        if (value === null && committed) count--;
        else if (value !== null && !committed) count++;
      }
      return count;
    },
  };
}

function* reverseRange(
  db: Database<Buffer, Buffer>,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
  limit: number | undefined,
): Iterable<{ key: Buffer; value: Buffer }> {
  let emitted = 0;
  for (const entry of db.getRange({ start: end as Buffer | undefined, reverse: true }) as Iterable<{ key: Buffer; value: Buffer }>) {
    if (end !== undefined && Buffer.compare(entry.key, end) >= 0) continue;
    if (start !== undefined && Buffer.compare(entry.key, start) < 0) return;
    yield entry;
    emitted++;
    if (limit !== undefined && emitted >= limit) return;
  }
}

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
import { mkdirSync, statSync, renameSync, rmSync, existsSync } from 'node:fs';
import { dirname, basename } from 'node:path';
import { join } from 'node:path';
import { BackendCorruptError, BackendError } from './errors.js';
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
}

export const defaultBatchIntervalMs = 100;
export const defaultBatchLimitOps = 10_000;
export const defaultBatchLimitBytes = 32 * 1024 * 1024;

/** Default map size: 64 GiB of address space, far above the 8 GiB etcd quota ceiling. */
export const defaultMapSizeBytes = 64 * 1024 * 1024 * 1024;

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

  /** Opens (or creates) the backend in `options.directory`. */
  static open(options: BackendOptions): Backend {
    recoverInterruptedDefragment(options.directory);
    mkdirSync(options.directory, { recursive: true });
    return new Backend(options, openEnvironment(options.directory, options));
  }

  private openDatabases(): void {
    for (const name of backendTableNames) {
      this.databases.set(name, this.root.openDB<Buffer, Buffer>(name, { keyEncoding: 'binary', encoding: 'binary' }));
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
   * if missing) as `data.mdb`, and returns that file's path. With `compact`,
   * free pages are left out (used by defragment).
   */
  async copyTo(directory: string, compact = false): Promise<string> {
    this.assertOpen();
    this.commit();
    mkdirSync(directory, { recursive: true });
    const target = join(directory, backendFileName);
    rmSync(target, { force: true });
    // lmdb copies an environment kept in a directory into a directory.
    await (this.root as unknown as { backup(path: string, compact: boolean): Promise<void> }).backup(directory, compact);
    return target;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.commit();
    } finally {
      this.closed = true;
      await this.root.close();
    }
  }

  /**
   * Rewrites the data file without free pages. The caller must hold off
   * writes while this runs (the server quiesces its apply loop); reads keep
   * working throughout. Steps, each safe to crash after:
   *   1. copy the environment, compacted, into <dir>.defrag;
   *   2. open the copy and switch every table to it (synchronously);
   *   3. close the old environment; rename <dir> to <dir>.old and
   *      <dir>.defrag to <dir>; delete <dir>.old.
   * open() finishes a swap that a crash interrupted in step 3.
   */
  async defragment(): Promise<void> {
    this.assertOpen();
    const { defragDirectory, oldDirectory } = siblingDirectories(this.directory);
    rmSync(defragDirectory, { recursive: true, force: true });
    await this.copyTo(defragDirectory, true);
    const previous = this.root;
    this.root = openEnvironment(defragDirectory, this.options);
    this.openDatabases();
    await previous.close();
    rmSync(oldDirectory, { recursive: true, force: true });
    renameSync(this.directory, oldDirectory);
    renameSync(defragDirectory, this.directory);
    rmSync(oldDirectory, { recursive: true, force: true });
    this.refreshFileSize();
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

function openEnvironment(directory: string, options: BackendOptions): RootDatabase {
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
      overlappingSync: true,
    });
  } catch (error) {
    throw new BackendCorruptError(join(directory, backendFileName), error);
  }
}

function siblingDirectories(directory: string): { defragDirectory: string; oldDirectory: string } {
  const parent = dirname(directory);
  const name = basename(directory);
  return { defragDirectory: join(parent, `${name}.defrag`), oldDirectory: join(parent, `${name}.old`) };
}

/** Completes step 3 of defragment() if a crash interrupted it. */
function recoverInterruptedDefragment(directory: string): void {
  const { defragDirectory, oldDirectory } = siblingDirectories(directory);
  const hasData = existsSync(join(directory, backendFileName));
  if (!hasData && existsSync(join(defragDirectory, backendFileName))) {
    renameSync(defragDirectory, directory);
  } else if (existsSync(defragDirectory)) {
    // The copy never took over: the original is intact.
    rmSync(defragDirectory, { recursive: true, force: true });
  }
  if (existsSync(join(directory, backendFileName))) rmSync(oldDirectory, { recursive: true, force: true });
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

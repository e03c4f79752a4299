/**
 * The backend: where applied state lives (MVCC revisions, leases, members,
 * alarms, metadata), on lmdb.
 *
 * Durability contract. The write-ahead log is the source of truth; the
 * backend is a materialisation of the log up to `consistentIndex`, the index
 * of the last log entry whose effects it holds. Every write transaction that
 * applies entries also stores the new consistentIndex in the same lmdb
 * transaction, so data and index can never disagree (etcd 3.5.0-3.5.2 shipped
 * exactly that bug). Commits do not wait for fsync (lmdb-js overlappingSync):
 * after a crash the backend may be behind the log, never ahead and never torn,
 * and recovery replays the log from consistentIndex + 1. Before the log may
 * drop entries, the caller awaits `flushed()` so that what it drops is in the
 * backend on disk.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync, statSync, renameSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BackendCorruptError, BackendError } from './errors.js';

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
}

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
  private readonly root: RootDatabase;
  private readonly tables = new Map<BackendTableName, BackendTable>();
  private inWrite = false;
  private closed = false;

  private constructor(directory: string, root: RootDatabase) {
    this.directory = directory;
    this.root = root;
    for (const name of backendTableNames) {
      const db = root.openDB<Buffer, Buffer>(name, { keyEncoding: 'binary', encoding: 'binary' });
      this.tables.set(name, wrapTable(db, () => this.assertWriting()));
    }
  }

  /** Opens (or creates) the backend in `options.directory`. */
  static open(options: BackendOptions): Backend {
    mkdirSync(options.directory, { recursive: true });
    let root: RootDatabase;
    try {
      root = open({
        path: options.directory,
        maxDbs: backendTableNames.length + 4,
        compression: false,
        mapSize: options.mapSizeBytes ?? defaultMapSizeBytes,
        // Integrity after a crash comes from lmdb's meta-page protocol;
        // durability of acknowledged writes comes from the WAL.
        overlappingSync: true,
      });
    } catch (error) {
      throw new BackendCorruptError(join(options.directory, backendFileName), error);
    }
    return new Backend(options.directory, root);
  }

  table(name: BackendTableName): BackendTable {
    const table = this.tables.get(name);
    if (table === undefined) throw new BackendError(`backend: unknown table ${name}`);
    return table;
  }

  /**
   * Runs `fn` in one atomic write transaction. If `fn` throws, nothing it
   * wrote is committed. Not reentrant.
   */
  write<T>(fn: () => T): T {
    this.assertOpen();
    if (this.inWrite) throw new BackendError('backend: nested write transaction');
    this.inWrite = true;
    try {
      return this.root.transactionSync(fn);
    } finally {
      this.inWrite = false;
    }
  }

  /** Resolves when every committed write is on disk (fsynced). */
  async flushed(): Promise<void> {
    this.assertOpen();
    await this.root.flushed;
  }

  /** Bytes of the data file (the high-water mark of allocated pages). */
  sizeBytes(): number {
    const file = join(this.directory, backendFileName);
    return existsSync(file) ? statSync(file).size : 0;
  }

  /** Bytes in pages that hold data now (the file minus free pages). */
  sizeInUseBytes(): number {
    const stats = this.root.getStats() as { pageSize: number; lastPageNumber: number; free?: { entryCount?: number } };
    const freePages = this.freePageCount();
    return Math.max(0, (stats.lastPageNumber + 1 - freePages) * stats.pageSize);
  }

  private freePageCount(): number {
    // lmdb keeps freed pages in its free-list database: its entries are page
    // runs, not a page count, so this is an estimate good enough for Status.
    const stats = this.root.getStats() as { free?: { treeLeafPageCount?: number; overflowPages?: number; entryCount?: number } };
    return stats.free?.entryCount ?? 0;
  }

  /**
   * Writes a consistent copy of the whole backend to `path` (a file). With
   * `compact`, free pages are left out (used by defragment).
   */
  async copyTo(path: string, compact = false): Promise<void> {
    this.assertOpen();
    await (this.root as unknown as { backup(path: string, compact: boolean): Promise<void> }).backup(path, compact);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  /**
   * Rewrites the data file without free pages: copy compacted, close, swap the
   * files, reopen. The caller must hold off every other use of the backend
   * while this runs (the server pauses its apply loop).
   */
  static async defragment(backend: Backend, options: BackendOptions): Promise<Backend> {
    const compactedPath = join(options.directory, `${backendFileName}.defrag`);
    rmSync(compactedPath, { force: true });
    await backend.copyTo(compactedPath, true);
    await backend.close();
    renameSync(compactedPath, join(options.directory, backendFileName));
    rmSync(join(options.directory, 'lock.mdb'), { force: true });
    return Backend.open(options);
  }

  private assertOpen(): void {
    if (this.closed) throw new BackendError('backend: closed');
  }

  private assertWriting(): void {
    this.assertOpen();
    if (!this.inWrite) throw new BackendError('backend: write outside a write transaction');
  }
}

function wrapTable(db: Database<Buffer, Buffer>, assertWriting: () => void): BackendTable {
  return {
    get: (key) => db.getBinary(key as Buffer),
    getUnsafe: (key) => db.getBinaryFast(key as Buffer),
    range: (start, end, limit) =>
      db.getRange({ start: start as Buffer | undefined, end: end as Buffer | undefined, limit }) as Iterable<{ key: Buffer; value: Buffer }>,
    rangeReverse: (start, end, limit) =>
      // lmdb's reverse range starts at `start` and walks down to `end`
      // (exclusive): map our [start, end) onto it.
      reverseRange(db, start, end, limit),
    put: (key, value) => {
      assertWriting();
      db.putSync(key as Buffer, value as Buffer);
    },
    delete: (key) => {
      assertWriting();
      db.removeSync(key as Buffer);
    },
    count: () => db.getCount(),
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

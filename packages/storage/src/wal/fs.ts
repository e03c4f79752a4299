/**
 * The only door from the WAL and the snapshot files to the disk. Everything
 * that touches a file goes through {@link WalFileSystem}, so tests can swap in
 * {@link MemoryWalFileSystem} (crash simulation, ENOSPC/EIO, torn writes,
 * bit flips) and production uses {@link NodeWalFileSystem}.
 *
 * All methods are asynchronous. The Node implementation uses `fs/promises`
 * (libuv thread pool) on purpose: an fdatasync takes from tens of microseconds
 * to tens of milliseconds, and while it runs the event loop must stay free to
 * accept the proposals that will form the next group commit. A synchronous
 * fdatasync would stall every connection for the duration of each sync.
 */

/** An open file that is only ever appended to (O_APPEND). */
export interface WalFile {
  readonly path: string;
  /**
   * Appends all of `data` at the end of the file. Implementations must either
   * write every byte or throw (short writes are retried internally).
   */
  append(data: Uint8Array): Promise<void>;
  /** fdatasync(2): makes the file's data (and its size) durable. */
  datasync(): Promise<void>;
  /**
   * Appends all of `data` and makes it durable, as `append` then `datasync`
   * would, but in one step where the platform allows (a write on an O_DSYNC
   * descriptor: one trip to the thread pool instead of two, which is what
   * bounds a group commit's cycle). Only what this call writes is made
   * durable: earlier unsynced appends need a `datasync` of their own.
   */
  appendDurable(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface WalFileStat {
  size: number;
  isDirectory: boolean;
}

export interface WalFileSystem {
  /** Creates a directory (and its parents when `recursive`). */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Names (not paths) of the entries of a directory. */
  readdir(path: string): Promise<string[]>;
  /** `null` when nothing exists at `path`. */
  stat(path: string): Promise<WalFileStat | null>;
  /** The whole content of a file. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Opens a file for appending. `exclusive` fails with EEXIST if it exists;
   * otherwise it is created when missing.
   */
  openAppend(path: string, options?: { exclusive?: boolean }): Promise<WalFile>;
  /** Shrinks a (closed) file to `size` bytes. Not durable until synced. */
  truncate(path: string, size: number): Promise<void>;
  /** rename(2); atomic replacement of the target (an empty directory for dirs). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** fsync(2) on a directory: makes creations, renames, unlinks in it durable. */
  fsyncDirectory(path: string): Promise<void>;
}

/** Joins path segments with `/` (both file systems use POSIX paths). */
export function joinPath(directory: string, name: string): string {
  return directory.endsWith('/') ? directory + name : `${directory}/${name}`;
}

/** The parent directory of a path (`.` when there is none). */
export function parentPath(path: string): string {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const slash = trimmed.lastIndexOf('/');
  if (slash < 0) return '.';
  if (slash === 0) return '/';
  return trimmed.slice(0, slash);
}

/** The last component of a path. */
export function baseName(path: string): string {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/**
 * Typed errors of the storage package. Every message starts with `wal:` or
 * `snap:` (like etcd) so an operator can tell from one log line which file
 * family is affected.
 *
 * Semantics, in short:
 * - {@link WalCorruptError}: the on-disk WAL is not what we wrote. The server
 *   must refuse to start; nothing is repaired or dropped automatically.
 * - {@link WalWriteError}: a write or fsync failed. The WAL is now in a failed
 *   state and rejects every later operation with this same error object: after
 *   a failed fsync the kernel may have dropped the dirty pages, so we cannot
 *   know what is on disk (the "fsyncgate" lesson). Restart and replay.
 * - {@link WalClosedError}: an operation on a closed WAL (programming error).
 * - {@link SnapshotCorruptError}: a `.snap` file failed validation.
 */

/** The WAL on disk is damaged in a way that is not a torn unacknowledged tail. */
export class WalCorruptError extends Error {
  override readonly name = 'WalCorruptError';
  /** Path of the segment file (or WAL directory) that is damaged. */
  readonly path: string;
  /** Byte offset in `path` of the record that failed validation. */
  readonly offset: number;

  constructor(message: string, path: string, offset: number, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
    this.offset = offset;
  }
}

/** Human readable texts for the errnos we expect from write(2)/fdatasync(2). */
const errnoText: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EIO: 'input/output error',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EBADF: 'bad file descriptor',
  EFBIG: 'file too large',
};

/** A write or fdatasync of the WAL failed; the WAL is permanently failed. */
export class WalWriteError extends Error {
  override readonly name = 'WalWriteError';
  /** The errno code, e.g. `ENOSPC`, `EIO`; `UNKNOWN` if the cause had none. */
  readonly errno: string;
  /** Which operation failed. */
  readonly operation: string;

  constructor(errno: string, operation: string, options?: { cause?: unknown }) {
    super(`wal: ${errnoText[errno] ?? errno.toLowerCase()} (${errno} during ${operation})`, options);
    this.errno = errno;
    this.operation = operation;
  }

  /** Wraps any thrown value from a file operation. */
  static from(cause: unknown, operation: string): WalWriteError {
    if (cause instanceof WalWriteError) return cause;
    const code =
      typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'string'
        ? (cause as { code: string }).code
        : 'UNKNOWN';
    return new WalWriteError(code, operation, { cause });
  }
}

/** The WAL was closed; no further operations are possible on this instance. */
export class WalClosedError extends Error {
  override readonly name = 'WalClosedError';
  constructor() {
    super('wal: closed');
  }
}

/** A record would exceed `maxRecordBytes`; rejected before anything is written. */
export class WalRecordTooLargeError extends Error {
  override readonly name = 'WalRecordTooLargeError';
  readonly recordBytes: number;
  readonly maxRecordBytes: number;
  constructor(recordBytes: number, maxRecordBytes: number, what: string) {
    super(`wal: ${what} payload of ${recordBytes} bytes exceeds maxRecordBytes ${maxRecordBytes}`);
    this.recordBytes = recordBytes;
    this.maxRecordBytes = maxRecordBytes;
  }
}

/** `Wal.open` found no WAL (no segment files) in the directory. */
export class WalNotFoundError extends Error {
  override readonly name = 'WalNotFoundError';
  readonly path: string;
  constructor(path: string) {
    super(`wal: no WAL segment files in ${path}`);
    this.path = path;
  }
}

/** `Wal.create` found an existing WAL in the directory. */
export class WalExistsError extends Error {
  override readonly name = 'WalExistsError';
  readonly path: string;
  constructor(path: string) {
    super(`wal: a WAL already exists in ${path}`);
    this.path = path;
  }
}

/** A `.snap` file failed validation (bad magic, crc, length, name mismatch). */
export class SnapshotCorruptError extends Error {
  override readonly name = 'SnapshotCorruptError';
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

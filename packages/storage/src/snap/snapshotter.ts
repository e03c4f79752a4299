/**
 * Snapshot metadata files: `%016x-%016x.snap` (term, index), like etcd's
 * snapshotter. Each file holds one checksummed record:
 *
 * ```text
 * offset  size  field
 * 0       4     magic         u32 LE 0x4e534648 ("HFSN")
 * 4       4     version       u32 LE = 1
 * 8       4     crc           u32 LE, CRC-32 (IEEE) of the body (bytes 16 .. end)
 * 12      4     bodyLength    u32 LE; the file is exactly 16 + bodyLength bytes
 * 16      ...   body:
 *                 index u64, term u64,
 *                 voterCount u32, voters u64 * voterCount,
 *                 learnerCount u32, learners u64 * learnerCount,
 *                 dataLength u32, data (opaque bytes)
 * ```
 *
 * Saving writes `<name>.tmp`, fdatasyncs it, renames it over `<name>`, and
 * fsyncs the directory, so a crash leaves either no file or a complete one.
 */
import { crc32 } from 'node:zlib';
import { SnapshotCorruptError, WalWriteError } from '../errors.js';
import { joinPath, type WalFileSystem } from '../wal/fs.js';
import { NodeWalFileSystem } from '../wal/node-fs.js';
import { assertMemberId, assertU64, hex16, readU64 } from '../wal/format.js';
import { consoleWalLogger, type WalLogger } from '../wal/wal.js';

/** "HFSN" read as a little-endian u32. */
export const SNAPSHOT_MAGIC = 0x4e534648;
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Bytes before the body: magic, version, crc, bodyLength. */
export const SNAPSHOT_HEADER_BYTES = 16;
/** Largest accepted snapshot file, in bytes (64 MiB); these files hold metadata only. */
export const MAX_SNAPSHOT_FILE_BYTES = 64 * 1024 * 1024;

/** The membership at a snapshot: member ids are uint64 bigints, as etcd's. */
export interface ConfState {
  voters: bigint[];
  learners: bigint[];
}

export interface SnapshotRecord {
  index: number;
  term: number;
  confState: ConfState;
  /** Opaque to this package (the server stores its own metadata here). */
  data: Uint8Array;
}

export interface SnapshotFileInfo {
  path: string;
  name: string;
  index: number;
  term: number;
}

export interface SkippedSnapshot {
  /** Where the damaged file was. */
  path: string;
  /** Where it was moved (`<path>.broken`), or undefined if the rename failed too. */
  brokenPath: string | undefined;
  error: SnapshotCorruptError;
}

export interface LoadNewestResult {
  /** The newest valid snapshot, or null if there is none. */
  snapshot: SnapshotRecord | null;
  /** Path of the file it came from. */
  path: string | undefined;
  /** Newer files that failed validation (each renamed to `*.broken`). */
  skipped: SkippedSnapshot[];
}

export interface SnapshotterOptions {
  fs?: WalFileSystem;
  logger?: WalLogger;
}

const snapNamePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** `%016x-%016x.snap` (term, index). */
export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export class Snapshotter {
  readonly directory: string;
  private readonly fs: WalFileSystem;
  private readonly logger: WalLogger;

  constructor(directory: string, options: SnapshotterOptions = {}) {
    this.directory = directory.length > 1 ? directory.replace(/\/+$/, '') : directory;
    this.fs = options.fs ?? new NodeWalFileSystem();
    this.logger = options.logger ?? consoleWalLogger;
  }

  /** Durably writes a snapshot file; returns its path. */
  async saveSnapshot(snapshot: SnapshotRecord): Promise<string> {
    const bytes = encodeSnapshot(snapshot);
    const path = joinPath(this.directory, snapshotFileName(snapshot.term, snapshot.index));
    const tmpPath = `${path}.tmp`;
    try {
      await this.fs.mkdir(this.directory, { recursive: true });
      if (await this.fs.stat(tmpPath)) await this.fs.unlink(tmpPath);
      const file = await this.fs.openAppend(tmpPath, { exclusive: true });
      try {
        await file.append(bytes);
        await file.datasync();
      } finally {
        await file.close();
      }
      await this.fs.rename(tmpPath, path);
      await this.fs.fsyncDirectory(this.directory);
    } catch (error) {
      throw WalWriteError.from(error, 'snapshot save');
    }
    return path;
  }

  /** Snapshot files (by name, not validated), oldest first (by index, then term). */
  async listSnapshots(): Promise<SnapshotFileInfo[]> {
    if (!(await this.fs.stat(this.directory))) return [];
    const out: SnapshotFileInfo[] = [];
    for (const name of await this.fs.readdir(this.directory)) {
      const match = snapNamePattern.exec(name);
      if (!match) continue;
      const term = Number.parseInt(match[1]!, 16);
      const index = Number.parseInt(match[2]!, 16);
      if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) continue;
      out.push({ path: joinPath(this.directory, name), name, index, term });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  /**
   * Loads the newest snapshot that validates. Newer files that do not are
   * logged, renamed to `*.broken` (so they are not retried and can be
   * inspected) and listed in `skipped`. `accept` can restrict the choice,
   * e.g. to snapshots that the WAL has a marker for.
   */
  async loadNewest(accept?: (info: SnapshotFileInfo) => boolean): Promise<LoadNewestResult> {
    const skipped: SkippedSnapshot[] = [];
    const files = (await this.listSnapshots()).reverse();
    for (const info of files) {
      if (accept && !accept(info)) continue;
      let snapshot: SnapshotRecord;
      try {
        snapshot = await this.readSnapshot(info);
      } catch (error) {
        const corrupt =
          error instanceof SnapshotCorruptError
            ? error
            : new SnapshotCorruptError(`snap: cannot read ${info.path}: ${String(error)}`, info.path, { cause: error });
        let brokenPath: string | undefined = `${info.path}.broken`;
        try {
          await this.fs.rename(info.path, brokenPath);
          await this.fs.fsyncDirectory(this.directory);
        } catch {
          brokenPath = undefined;
        }
        this.logger.warn(`${corrupt.message}; skipped${brokenPath ? `, renamed to ${brokenPath}` : ''}`, {
          path: info.path,
        });
        skipped.push({ path: info.path, brokenPath, error: corrupt });
        continue;
      }
      return { snapshot, path: info.path, skipped };
    }
    return { snapshot: null, path: undefined, skipped };
  }

  /** Reads and validates one snapshot file. Throws SnapshotCorruptError. */
  async readSnapshot(info: SnapshotFileInfo | string): Promise<SnapshotRecord> {
    const path = typeof info === 'string' ? info : info.path;
    const raw = await this.fs.readFile(path);
    const snapshot = decodeSnapshot(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), path);
    if (typeof info !== 'string' && (snapshot.index !== info.index || snapshot.term !== info.term)) {
      throw new SnapshotCorruptError(
        `snap: ${path} holds term ${snapshot.term}, index ${snapshot.index}, which does not match its name`,
        path,
      );
    }
    return snapshot;
  }

  /** Deletes all but the newest `keepCount` snapshot files; returns the deleted paths. */
  async releaseOlderThan(keepCount: number): Promise<string[]> {
    if (!Number.isSafeInteger(keepCount) || keepCount < 1) {
      throw new RangeError(`snap: keepCount must be an integer >= 1, got ${keepCount}`);
    }
    const files = await this.listSnapshots();
    const doomed = files.slice(0, Math.max(0, files.length - keepCount));
    if (doomed.length === 0) return [];
    try {
      for (const info of doomed) await this.fs.unlink(info.path);
      await this.fs.fsyncDirectory(this.directory);
    } catch (error) {
      throw WalWriteError.from(error, 'snapshot release');
    }
    return doomed.map((info) => info.path);
  }
}

export function encodeSnapshot(snapshot: SnapshotRecord): Buffer {
  assertU64(snapshot.index, 'snapshot index');
  assertU64(snapshot.term, 'snapshot term');
  for (const id of [...snapshot.confState.voters, ...snapshot.confState.learners]) assertMemberId(id, 'member id');
  const { voters, learners } = snapshot.confState;
  const bodyLength = 16 + 4 + 8 * voters.length + 4 + 8 * learners.length + 4 + snapshot.data.length;
  if (SNAPSHOT_HEADER_BYTES + bodyLength > MAX_SNAPSHOT_FILE_BYTES) {
    throw new RangeError(`snap: snapshot of ${bodyLength} bytes exceeds ${MAX_SNAPSHOT_FILE_BYTES}`);
  }
  const out = Buffer.alloc(SNAPSHOT_HEADER_BYTES + bodyLength);
  let p = SNAPSHOT_HEADER_BYTES;
  const u64 = (value: number): void => {
    out.writeUInt32LE(value % 0x1_0000_0000, p);
    out.writeUInt32LE(Math.floor(value / 0x1_0000_0000), p + 4);
    p += 8;
  };
  u64(snapshot.index);
  u64(snapshot.term);
  out.writeUInt32LE(voters.length, p);
  p += 4;
  const id64 = (id: bigint): void => {
    out.writeBigUInt64LE(id, p);
    p += 8;
  };
  for (const id of voters) id64(id);
  out.writeUInt32LE(learners.length, p);
  p += 4;
  for (const id of learners) id64(id);
  out.writeUInt32LE(snapshot.data.length, p);
  p += 4;
  out.set(snapshot.data, p);
  out.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  out.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, 4);
  out.writeUInt32LE(crc32(out.subarray(SNAPSHOT_HEADER_BYTES)), 8);
  out.writeUInt32LE(bodyLength, 12);
  return out;
}

export function decodeSnapshot(bytes: Buffer, path: string): SnapshotRecord {
  const fail = (what: string): SnapshotCorruptError => new SnapshotCorruptError(`snap: ${what} in ${path}`, path);
  if (bytes.length < SNAPSHOT_HEADER_BYTES) throw fail(`file too short (${bytes.length} bytes)`);
  if (bytes.readUInt32LE(0) !== SNAPSHOT_MAGIC) throw fail('bad magic');
  const version = bytes.readUInt32LE(4);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw fail(`unsupported version ${version}`);
  const bodyLength = bytes.readUInt32LE(12);
  if (bytes.length !== SNAPSHOT_HEADER_BYTES + bodyLength) {
    throw fail(`length mismatch (header says ${bodyLength} body bytes, file has ${bytes.length - SNAPSHOT_HEADER_BYTES})`);
  }
  if (crc32(bytes.subarray(SNAPSHOT_HEADER_BYTES)) !== bytes.readUInt32LE(8)) throw fail('crc mismatch');
  let p = SNAPSHOT_HEADER_BYTES;
  const need = (n: number): void => {
    if (p + n > bytes.length) throw fail('truncated body');
  };
  const u64 = (): number => {
    need(8);
    const value = readU64(bytes, p);
    if (value === null) throw fail('number out of range');
    p += 8;
    return value;
  };
  const u32 = (): number => {
    need(4);
    const value = bytes.readUInt32LE(p);
    p += 4;
    return value;
  };
  const index = u64();
  const term = u64();
  const id64 = (): bigint => {
    need(8);
    const value = bytes.readBigUInt64LE(p);
    p += 8;
    return value;
  };
  const voters: bigint[] = [];
  for (let n = u32(); n > 0; n--) voters.push(id64());
  const learners: bigint[] = [];
  for (let n = u32(); n > 0; n--) learners.push(id64());
  const dataLength = u32();
  need(dataLength);
  const data = new Uint8Array(bytes.subarray(p, p + dataLength));
  p += dataLength;
  if (p !== bytes.length) throw fail('trailing bytes after body');
  return { index, term, confState: { voters, learners }, data };
}

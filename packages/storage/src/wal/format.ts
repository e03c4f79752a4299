/**
 * The WAL's on-disk format: constants, record encoding and the record scanner.
 *
 * A WAL is a directory of segment files named `%016x-%016x.wal` (sequence
 * number, index of the first entry the segment may hold). A segment is a
 * sequence of records, each starting at an offset that is a multiple of 8:
 *
 * ```text
 * offset  size  field
 * 0       4     payloadLength   u32 little-endian, bytes of payload (excludes type and padding)
 * 4       4     crc             u32 LE, CRC-32 (IEEE, zlib) of [recordType, ...payload]
 * 8       1     recordType      u8 (RecordType)
 * 9       n     payload         n = payloadLength bytes
 * 9+n     p     padding         zero bytes, p = (8 - (9 + n) % 8) % 8, so the next record is 8-aligned
 * ```
 *
 * Payloads (all integers little-endian; u64 values are JS safe integers, at most 2^53-1):
 *
 * ```text
 * 1 segmentHeader   magic u32 = 0x4c574648 ("HFWL"), formatVersion u32 = 1,
 *                   sequence u64, firstIndex u64, prevCrc u32, reserved u32 = 0     (32 bytes)
 * 2 entry           index u64, term u64, entryType u8, data (payloadLength - 17 bytes)
 * 3 hardState       term u64, vote u64, commit u64                                 (24 bytes)
 * 4 snapshotMarker  index u64, term u64                                            (16 bytes)
 * 5 metadata        opaque bytes (cluster id, member id, ...)
 * ```
 *
 * Every segment starts with a segmentHeader, then the metadata record, then
 * (from the second segment on) the newest hard state at the moment of the
 * rotation, so releasing old segments never loses either. `prevCrc` is the crc
 * field of the previous segment's last record (0 in the very first segment):
 * the segments form a chain, and a missing or foreign segment is detected.
 *
 * Worked example: an entry {index 1, term 1, type 0, data "hi"} is the
 * 32-byte record (payload 17 + 2 = 19 bytes, 9 + 19 = 28, padded to 32)
 *
 * ```text
 * 13 00 00 00  ca 8a 3d 4a  02  01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  00  68 69  00 00 00 00
 * length=19    crc          ty  index=1                  term=1                   et  "hi"   padding
 * ```
 *
 * (The full byte-by-byte dump of a fresh segment is in the package README.)
 *
 * Why 8-byte alignment with zero padding: the 8 bytes holding length and crc
 * always sit inside one 512-byte sector (512 is a multiple of 8), so a torn
 * write can never leave half of an old and half of a new length; and a sector
 * that never reached the disk reads back as zeros, which at a record boundary
 * reads as length 0 — the scanner recognises a zeroed tail (and a record that
 * fails its crc but has a fully zeroed sector in it) as a torn write rather
 * than corruption. Padding is zero so that a file's unused tail is all zeros.
 */
import { crc32 } from 'node:zlib';

/** Bytes of the fixed record header: length (4) + crc (4) + type (1). */
export const RECORD_HEADER_BYTES = 9;
/** Every record starts at a multiple of this many bytes. */
export const RECORD_ALIGNMENT_BYTES = 8;
/** Sector size assumed by torn-write detection, in bytes. */
export const SECTOR_BYTES = 512;
/** Default segment size: a new segment is started once one reaches this many bytes (64 MiB). */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
/** Smallest accepted `segmentSizeBytes` (bytes). */
export const MIN_SEGMENT_SIZE_BYTES = 256;
/** Default largest record payload, in bytes (16 MiB). Larger appends are rejected. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Hard ceiling for `maxRecordBytes` (bytes): payloadLength is a u32. */
export const MAX_RECORD_BYTES_LIMIT = 0xffff_fff0;
/** "HFWL" read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x4c574648;
/** Version written into every segment header; others are refused. */
export const WAL_FORMAT_VERSION = 1;
/** Payload bytes of a segmentHeader record. */
export const SEGMENT_HEADER_PAYLOAD_BYTES = 32;
/** Payload bytes of an entry record before its data. */
export const ENTRY_FIXED_PAYLOAD_BYTES = 17;
/** Payload bytes of a hardState record. */
export const HARD_STATE_PAYLOAD_BYTES = 24;
/** Payload bytes of a snapshotMarker record. */
export const SNAPSHOT_MARKER_PAYLOAD_BYTES = 16;

export const RecordType = {
  segmentHeader: 1,
  entry: 2,
  hardState: 3,
  snapshotMarker: 4,
  metadata: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** One Raft log entry as stored in the WAL. */
export interface WalEntry {
  /** Raft log index, >= 1. */
  index: number;
  term: number;
  /** Raft entry type (normal, conf change, ...), 0..255; opaque to the WAL. */
  type: number;
  data: Uint8Array;
}

/** Raft hard state; `vote` is a member id (a uint64, as etcd's), 0n meaning "no vote". */
export interface HardState {
  term: number;
  vote: bigint;
  commit: number;
}

/** "A snapshot at this index/term exists; entries up to it may be dropped." */
export interface SnapshotMarker {
  index: number;
  term: number;
}

export interface SegmentHeader {
  formatVersion: number;
  sequence: number;
  firstIndex: number;
  prevCrc: number;
}

/** Size of a record with `payloadLength` bytes of payload, padding included. */
export function recordSize(payloadLength: number): number {
  return (RECORD_HEADER_BYTES + payloadLength + RECORD_ALIGNMENT_BYTES - 1) & ~(RECORD_ALIGNMENT_BYTES - 1);
}

/** `%016x-%016x.wal` */
export function segmentName(sequence: number, firstIndex: number): string {
  return `${hex16(sequence)}-${hex16(firstIndex)}.wal`;
}

const segmentNamePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** Parses a segment file name; `null` if it is not one. */
export function parseSegmentName(name: string): { sequence: number; firstIndex: number } | null {
  const match = segmentNamePattern.exec(name);
  if (!match) return null;
  const sequence = Number.parseInt(match[1]!, 16);
  const firstIndex = Number.parseInt(match[2]!, 16);
  if (!Number.isSafeInteger(sequence) || !Number.isSafeInteger(firstIndex)) return null;
  return { sequence, firstIndex };
}

export function hex16(value: number): string {
  return value.toString(16).padStart(16, '0');
}

/** Throws unless `value` is an integer in [0, Number.MAX_SAFE_INTEGER]. */
/** Member ids are full uint64s (etcd's), unlike indexes and terms. */
export function assertMemberId(value: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`wal: ${what} must be a uint64 bigint, got ${String(value)}`);
  }
}

export function assertU64(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`wal: ${what} must be an integer in [0, ${Number.MAX_SAFE_INTEGER}], got ${value}`);
  }
}

// ---- encoding ------------------------------------------------------------------

/**
 * Writes records into one preallocated, zero-filled buffer. The caller sizes
 * the buffer with {@link recordSize}; padding stays zero.
 */
export class RecordWriter {
  readonly buffer: Buffer;
  offset = 0;
  /** crc field of the last record written (for segment chaining). */
  lastCrc = 0;

  constructor(size: number) {
    this.buffer = Buffer.alloc(size);
  }

  segmentHeader(header: SegmentHeader): void {
    const p = this.begin(RecordType.segmentHeader);
    const b = this.buffer;
    b.writeUInt32LE(SEGMENT_MAGIC, p);
    b.writeUInt32LE(header.formatVersion, p + 4);
    writeU64(b, p + 8, header.sequence);
    writeU64(b, p + 16, header.firstIndex);
    b.writeUInt32LE(header.prevCrc >>> 0, p + 24);
    b.writeUInt32LE(0, p + 28);
    this.finish(SEGMENT_HEADER_PAYLOAD_BYTES);
  }

  entry(entry: WalEntry): void {
    const length = ENTRY_FIXED_PAYLOAD_BYTES + entry.data.length;
    const p = this.begin(RecordType.entry);
    const b = this.buffer;
    writeU64(b, p, entry.index);
    writeU64(b, p + 8, entry.term);
    b[p + 16] = entry.type;
    b.set(entry.data, p + 17);
    this.finish(length);
  }

  hardState(state: HardState): void {
    const p = this.begin(RecordType.hardState);
    writeU64(this.buffer, p, state.term);
    this.buffer.writeBigUInt64LE(state.vote, p + 8);
    writeU64(this.buffer, p + 16, state.commit);
    this.finish(HARD_STATE_PAYLOAD_BYTES);
  }

  snapshotMarker(marker: SnapshotMarker): void {
    const p = this.begin(RecordType.snapshotMarker);
    writeU64(this.buffer, p, marker.index);
    writeU64(this.buffer, p + 8, marker.term);
    this.finish(SNAPSHOT_MARKER_PAYLOAD_BYTES);
  }

  metadata(metadata: Uint8Array): void {
    const p = this.begin(RecordType.metadata);
    this.buffer.set(metadata, p);
    this.finish(metadata.length);
  }

  private begin(type: RecordType): number {
    this.buffer[this.offset + 8] = type;
    return this.offset + RECORD_HEADER_BYTES;
  }

  private finish(length: number): void {
    const start = this.offset;
    const crc = crc32(this.buffer.subarray(start + 8, start + RECORD_HEADER_BYTES + length));
    this.buffer.writeUInt32LE(length, start);
    this.buffer.writeUInt32LE(crc, start + 4);
    this.lastCrc = crc;
    this.offset = start + recordSize(length);
  }
}

function writeU64(buffer: Buffer, offset: number, value: number): void {
  buffer.writeUInt32LE(value % 0x1_0000_0000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

// ---- decoding ------------------------------------------------------------------

/** Reads a u64 field; `null` if it exceeds Number.MAX_SAFE_INTEGER. */
export function readU64(buffer: Buffer, offset: number): number | null {
  const low = buffer.readUInt32LE(offset);
  const high = buffer.readUInt32LE(offset + 4);
  if (high > 0x1f_ffff) return null;
  return high * 0x1_0000_0000 + low;
}

/** A record found by {@link scanRecords}. */
export interface RawRecord {
  offset: number;
  type: number;
  crc: number;
  /** Payload view into the segment buffer. */
  payload: Buffer;
}

/** Where and why the scan of a segment stopped before its end. */
export interface ScanStop {
  offset: number;
  /** `torn`: looks like an interrupted final write; `corrupt`: anything else. */
  kind: 'torn' | 'corrupt';
  /** What is wrong, e.g. `crc mismatch`. */
  problem: string;
  /** Details for the message, e.g. `record type 2, length 310`. */
  detail: string;
}

/**
 * Scans a segment's bytes. Calls `onRecord` for each valid record and returns
 * where it stopped early, or `null` if every byte was consumed by records.
 *
 * A stop is classified `torn` when it is consistent with an append that never
 * completed (only then may the caller, for the last segment, truncate):
 * - fewer than 9 bytes (a record header) left, or the record (with its
 *   padding) runs past the end of the file;
 * - length 0 and nothing but zero bytes from here to the end;
 * - a crc mismatch where some 512-byte-sector-aligned piece of the record
 *   (header and payload, not padding) is entirely zero (a full sector, or
 *   from a sector boundary to the payload's end), and there are only zero
 *   bytes after the record.
 * Everything else (crc mismatch otherwise, oversize length, unknown record
 * type, non-zero padding) is `corrupt`.
 */
export function scanRecords(
  data: Buffer,
  maxRecordBytes: number,
  onRecord: (record: RawRecord) => void,
): ScanStop | null {
  const end = data.length;
  let offset = 0;
  while (offset < end) {
    if (end - offset < RECORD_HEADER_BYTES) {
      return { offset, kind: 'torn', problem: 'partial record header', detail: `${end - offset} bytes before end of file` };
    }
    const length = data.readUInt32LE(offset);
    const storedCrc = data.readUInt32LE(offset + 4);
    const type = data[offset + 8]!;
    const what = `record type ${type}, length ${length}`;
    if (length === 0 && isZero(data, offset, end)) {
      return { offset, kind: 'torn', problem: 'zero-filled tail', detail: `${end - offset} zero bytes` };
    }
    if (length > maxRecordBytes) {
      return { offset, kind: 'corrupt', problem: 'record length exceeds maxRecordBytes', detail: `${what}, maxRecordBytes ${maxRecordBytes}` };
    }
    const payloadEnd = offset + RECORD_HEADER_BYTES + length;
    const next = offset + recordSize(length);
    if (next > end) {
      return { offset, kind: 'torn', problem: 'record runs past end of file', detail: `${what}, ${end - offset} bytes left` };
    }
    const actualCrc = crc32(data.subarray(offset + 8, payloadEnd));
    if (actualCrc !== storedCrc) {
      // Padding is excluded from the zeroed-sector test: it is always zero.
      const torn = hasZeroedSector(data, offset, payloadEnd) && isZero(data, next, end);
      return { offset, kind: torn ? 'torn' : 'corrupt', problem: 'crc mismatch', detail: what };
    }
    if (!isZero(data, payloadEnd, next)) {
      return { offset, kind: 'corrupt', problem: 'non-zero record padding', detail: what };
    }
    if (type < RecordType.segmentHeader || type > RecordType.metadata) {
      return { offset, kind: 'corrupt', problem: 'unknown record type', detail: what };
    }
    onRecord({ offset, type, crc: storedCrc, payload: data.subarray(offset + RECORD_HEADER_BYTES, payloadEnd) });
    offset = next;
  }
  return null;
}

function isZero(data: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] !== 0) return false;
  return true;
}

/**
 * Whether some sector-aligned piece of [from, to) is entirely zero: a whole
 * 512-byte sector inside the record, or the piece from the last sector
 * boundary inside the record to its end (the sector the write stopped in).
 */
function hasZeroedSector(data: Buffer, from: number, to: number): boolean {
  let sectorStart = Math.ceil(from / SECTOR_BYTES) * SECTOR_BYTES;
  while (sectorStart < to) {
    const sectorEnd = Math.min(sectorStart + SECTOR_BYTES, to);
    if (isZero(data, sectorStart, sectorEnd)) return true;
    sectorStart += SECTOR_BYTES;
  }
  return false;
}

export function decodeSegmentHeader(payload: Buffer): SegmentHeader | string {
  if (payload.length !== SEGMENT_HEADER_PAYLOAD_BYTES) return `segment header payload is ${payload.length} bytes`;
  if (payload.readUInt32LE(0) !== SEGMENT_MAGIC) return 'bad segment magic';
  const formatVersion = payload.readUInt32LE(4);
  if (formatVersion !== WAL_FORMAT_VERSION) return `unsupported format version ${formatVersion}`;
  const sequence = readU64(payload, 8);
  const firstIndex = readU64(payload, 16);
  if (sequence === null || firstIndex === null) return 'segment header number out of range';
  return { formatVersion, sequence, firstIndex, prevCrc: payload.readUInt32LE(24) };
}

export function decodeEntry(payload: Buffer): WalEntry | string {
  if (payload.length < ENTRY_FIXED_PAYLOAD_BYTES) return `entry payload is ${payload.length} bytes`;
  const index = readU64(payload, 0);
  const term = readU64(payload, 8);
  if (index === null || term === null) return 'entry index or term out of range';
  // Copy the data so entries do not pin whole segment buffers in memory.
  return { index, term, type: payload[16]!, data: new Uint8Array(payload.subarray(ENTRY_FIXED_PAYLOAD_BYTES)) };
}

export function decodeHardState(payload: Buffer): HardState | string {
  if (payload.length !== HARD_STATE_PAYLOAD_BYTES) return `hard state payload is ${payload.length} bytes`;
  const term = readU64(payload, 0);
  const vote = payload.readBigUInt64LE(8);
  const commit = readU64(payload, 16);
  if (term === null || commit === null) return 'hard state number out of range';
  return { term, vote, commit };
}

export function decodeSnapshotMarker(payload: Buffer): SnapshotMarker | string {
  if (payload.length !== SNAPSHOT_MARKER_PAYLOAD_BYTES) return `snapshot marker payload is ${payload.length} bytes`;
  const index = readU64(payload, 0);
  const term = readU64(payload, 8);
  if (index === null || term === null) return 'snapshot marker number out of range';
  return { index, term };
}

/**
 * Revisions and their byte layout in the backend's `key` table.
 *
 * A revision is (main, sub): `main` is the store revision a write request
 * gets (one per Put, DeleteRange or Txn with writes); `sub` orders the
 * changes inside that request (0, 1, 2... in op order).
 *
 * On disk, exactly as etcd lays it out so that HashKV agrees with etcd over
 * the same history:
 *
 *     offset 0..7   main, unsigned 64-bit big-endian
 *     offset 8      '_' (0x5f)
 *     offset 9..16  sub, unsigned 64-bit big-endian
 *     offset 17     't' (0x74), only on tombstones (deletions)
 *
 * Worked example: main 5, sub 1 of a deletion is
 * 00 00 00 00 00 00 00 05 5f 00 00 00 00 00 00 00 01 74.
 * Big-endian makes bytewise key order equal revision order.
 */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export const revisionBytesLength = 17;
export const tombstoneRevisionBytesLength = 18;
const separatorByte = 0x5f; // '_'
const tombstoneMarkerByte = 0x74; // 't'

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

export function encodeRevision(revision: Revision, tombstone = false): Buffer {
  const bytes = Buffer.allocUnsafe(tombstone ? tombstoneRevisionBytesLength : revisionBytesLength);
  writeUint64(bytes, 0, revision.main);
  bytes[8] = separatorByte;
  writeUint64(bytes, 9, revision.sub);
  if (tombstone) bytes[17] = tombstoneMarkerByte;
  return bytes;
}

/** The smallest key at or after every encoding of main revision `main`. */
export function encodeMainRevisionLowerBound(main: number): Buffer {
  return encodeRevision({ main, sub: 0 });
}

export function decodeRevision(bytes: Uint8Array): { revision: Revision; tombstone: boolean } {
  if (bytes.length !== revisionBytesLength && bytes.length !== tombstoneRevisionBytesLength) {
    throw new RangeError(`mvcc: revision key of ${bytes.length} bytes (want 17 or 18)`);
  }
  if (bytes[8] !== separatorByte) throw new RangeError('mvcc: revision key without separator');
  return {
    revision: { main: readUint64(bytes, 0), sub: readUint64(bytes, 9) },
    tombstone: bytes.length === tombstoneRevisionBytesLength && bytes[17] === tombstoneMarkerByte,
  };
}

function writeUint64(bytes: Buffer, offset: number, value: number): void {
  // Revisions stay below 2^53 (a million writes a second for 285 years).
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`mvcc: revision ${value} out of range`);
  bytes.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset);
  bytes.writeUInt32BE(value >>> 0, offset + 4);
}

function readUint64(bytes: Uint8Array, offset: number): number {
  // By hand rather than through a Buffer view: every read of every record
  // decodes two of these, and the view was an allocation each.
  const high = bytes[offset]! * 0x100_0000 + ((bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!);
  const low = bytes[offset + 4]! * 0x100_0000 + ((bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!);
  const value = high * 0x1_0000_0000 + low;
  if (!Number.isSafeInteger(value)) throw new RangeError('mvcc: revision above 2^53 on disk');
  return value;
}

/**
 * A record in the backend's `key` table: the mvccpb.KeyValue bytes etcd
 * would store, followed by a 4-byte checksum etcd does not have.
 *
 *     value = KeyValue protobuf bytes | CRC-32 (IEEE, big-endian) of
 *             (revision key bytes | KeyValue protobuf bytes)
 *
 * lmdb keeps no checksums of its own, so without this a flipped bit in a
 * stored value would be served as data. Covering the revision key too
 * catches a value that ended up under the wrong revision. HashKV hashes the
 * KeyValue bytes without the trailer, so it still equals etcd's.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { MvccCorruptError } from './errors.js';
import { decodeRevision } from './revision.js';

export const recordChecksumBytes = 4;

export function sealRecord(revisionKey: Uint8Array, keyValueBytes: Uint8Array): Buffer {
  const sealed = Buffer.allocUnsafe(keyValueBytes.length + recordChecksumBytes);
  sealed.set(keyValueBytes, 0);
  sealed.writeUInt32BE(crc32(keyValueBytes, crc32(revisionKey)), keyValueBytes.length);
  return sealed;
}

/**
 * Returns the KeyValue bytes of a stored record (a view into `stored`),
 * after checking its checksum; `location` names the file for the error.
 */
export function openRecord(revisionKey: Uint8Array, stored: Uint8Array, location: string): Uint8Array {
  if (stored.length < recordChecksumBytes) throw corrupt(revisionKey, location, 'record shorter than its checksum');
  const bytes = stored.subarray(0, stored.length - recordChecksumBytes);
  const view = Buffer.from(stored.buffer, stored.byteOffset, stored.length);
  const expected = view.readUInt32BE(bytes.length);
  if (crc32(bytes, crc32(revisionKey)) !== expected) throw corrupt(revisionKey, location, 'checksum mismatch');
  return bytes;
}

function corrupt(revisionKey: Uint8Array, location: string, what: string): MvccCorruptError {
  let name: string;
  try {
    const { revision, tombstone } = decodeRevision(revisionKey);
    name = `revision ${revision.main}.${revision.sub}${tombstone ? ' (tombstone)' : ''}`;
  } catch {
    name = `key ${Buffer.from(revisionKey).toString('hex')}`;
  }
  const offset = findInFile(location, revisionKey);
  const where = offset === undefined ? '' : ` at offset ${offset}`;
  return new MvccCorruptError(`mvcc: ${what} in ${location}${where}, record at ${name} (key ${Buffer.from(revisionKey).toString('hex')})`);
}

/** Bytes read at a time when searching the backend file on the error path. */
const searchChunkBytes = 1024 * 1024;

/**
 * Byte offset of the first occurrence of `needle` in the file (lmdb keeps a
 * record's key in the leaf node right before its value), or undefined.
 * Only used to report where damage is, never on a normal path.
 */
function findInFile(path: string, needle: Uint8Array): number | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const needleBuffer = Buffer.from(needle);
    const chunk = Buffer.alloc(searchChunkBytes + needle.length);
    let carried = 0;
    let position = 0;
    for (;;) {
      const read = readSync(descriptor, chunk, carried, searchChunkBytes, position);
      if (read === 0) return undefined;
      const available = carried + read;
      const found = chunk.subarray(0, available).indexOf(needleBuffer);
      if (found !== -1) return position - carried + found;
      carried = Math.min(needle.length - 1, available);
      chunk.copy(chunk, 0, available - carried, available);
      position += read;
    }
  } finally {
    closeSync(descriptor);
  }
}

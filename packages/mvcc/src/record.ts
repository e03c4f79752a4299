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
  return new MvccCorruptError(`mvcc: ${what} in ${location}, record at ${name} (key ${Buffer.from(revisionKey).toString('hex')})`);
}

/**
 * A key's value at one revision, and its byte encoding in the backend.
 *
 * The encoding is the protobuf encoding of mvccpb.KeyValue with fields in
 * field-number order and zero values left out, byte-for-byte what etcd
 * stores (so HashKV agrees with etcd) and what goes on the wire (so a Range
 * reply could copy the bytes through). Hand-written because this is the
 * hottest path in the server: no object allocation beyond the result.
 *
 *     field 1 key             bytes   tag 0x0a
 *     field 2 create_revision int64   tag 0x10
 *     field 3 mod_revision    int64   tag 0x18
 *     field 4 version         int64   tag 0x20
 *     field 5 value           bytes   tag 0x2a
 *     field 6 lease           int64   tag 0x30
 */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Number of puts since the key was (re)created; 0 on a tombstone. */
  readonly version: number;
  readonly value: Uint8Array;
  /** Lease id, 0n when none. A 64-bit id, so a bigint. */
  readonly lease: bigint;
}

const emptyBytes = new Uint8Array(0);

export function encodeKeyValue(kv: KeyValue): Buffer {
  let size = 0;
  if (kv.key.length > 0) size += 1 + varintSize(kv.key.length) + kv.key.length;
  if (kv.createRevision !== 0) size += 1 + varintSize(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + varintSize(kv.modRevision);
  if (kv.version !== 0) size += 1 + varintSize(kv.version);
  if (kv.value.length > 0) size += 1 + varintSize(kv.value.length) + kv.value.length;
  const lease = BigInt.asUintN(64, kv.lease);
  if (lease !== 0n) size += 1 + bigVarintSize(lease);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (kv.key.length > 0) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, kv.key.length);
    out.set(kv.key, at);
    at += kv.key.length;
  }
  if (kv.createRevision !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    out[at++] = 0x18;
    at = writeVarint(out, at, kv.modRevision);
  }
  if (kv.version !== 0) {
    out[at++] = 0x20;
    at = writeVarint(out, at, kv.version);
  }
  if (kv.value.length > 0) {
    out[at++] = 0x2a;
    at = writeVarint(out, at, kv.value.length);
    out.set(kv.value, at);
    at += kv.value.length;
  }
  if (lease !== 0n) {
    out[at++] = 0x30;
    at = writeBigVarint(out, at, lease);
  }
  if (at !== size) throw new Error(`mvcc: KeyValue encoder wrote ${at} of ${size} bytes`);
  return out;
}

/** Where a stored KeyValue's fields are: byte ranges for key and value (-1 when absent), scalars decoded. */
interface KeyValueFields {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: bigint;
}

/** Reads a stored KeyValue's fields without copying anything; throws on a malformed record. */
function scanKeyValue(bytes: Uint8Array): KeyValueFields {
  const fields: KeyValueFields = { keyStart: -1, keyEnd: -1, valueStart: -1, valueEnd: -1, createRevision: 0, modRevision: 0, version: 0, lease: 0n };
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at++];
    switch (tag) {
      case 0x0a:
      case 0x2a: {
        const [length, next] = readVarint(bytes, at);
        if (next + length > bytes.length) throw new RangeError('mvcc: truncated KeyValue');
        if (tag === 0x0a) {
          fields.keyStart = next;
          fields.keyEnd = next + length;
        } else {
          fields.valueStart = next;
          fields.valueEnd = next + length;
        }
        at = next + length;
        break;
      }
      case 0x10:
        [fields.createRevision, at] = readVarint(bytes, at);
        break;
      case 0x18:
        [fields.modRevision, at] = readVarint(bytes, at);
        break;
      case 0x20:
        [fields.version, at] = readVarint(bytes, at);
        break;
      case 0x30: {
        let lease: bigint;
        [lease, at] = readBigVarint(bytes, at);
        fields.lease = BigInt.asIntN(64, lease);
        break;
      }
      default:
        throw new RangeError(`mvcc: unexpected tag ${String(tag)} in stored KeyValue`);
    }
  }
  return fields;
}

/**
 * Decodes a stored KeyValue. `bytes` may be a reused buffer: key and value
 * are copied out.
 */
export function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const fields = scanKeyValue(bytes);
  // Copies: the input may be a buffer lmdb reuses on the next read.
  const copy = (from: number, to: number) => (from < 0 ? emptyBytes : Buffer.from(bytes.subarray(from, to)));
  return {
    key: copy(fields.keyStart, fields.keyEnd),
    createRevision: fields.createRevision,
    modRevision: fields.modRevision,
    version: fields.version,
    value: copy(fields.valueStart, fields.valueEnd),
    lease: fields.lease,
  };
}

/**
 * Decodes a stored KeyValue whose bytes the caller owns (nobody reuses or
 * changes them): key and value are views into `bytes`, not copies.
 */
export function decodeKeyValueViews(bytes: Uint8Array): KeyValue {
  const fields = scanKeyValue(bytes);
  const view = (from: number, to: number) => (from < 0 ? emptyBytes : Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from));
  return {
    key: view(fields.keyStart, fields.keyEnd),
    createRevision: fields.createRevision,
    modRevision: fields.modRevision,
    version: fields.version,
    value: view(fields.valueStart, fields.valueEnd),
    lease: fields.lease,
  };
}

/** What rebuilding the index needs of a stored KeyValue: no value, and the key as a latin1 string. */
export interface KeyValueHeader {
  readonly key: string;
  readonly createRevision: number;
  readonly version: number;
  readonly lease: bigint;
}

/**
 * Decodes the fields of a stored KeyValue that the index needs, without
 * copying the key or the value (startup reads every record once, and the
 * copies showed in a restart's profile). Same checks as decodeKeyValue.
 */
export function decodeKeyValueHeader(bytes: Uint8Array): KeyValueHeader {
  const fields = scanKeyValue(bytes);
  const key = fields.keyStart < 0 ? '' : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', fields.keyStart, fields.keyEnd);
  return { key, createRevision: fields.createRevision, version: fields.version, lease: fields.lease };
}

/** Bytes of `value` (a non-negative integer below 2^53) as a protobuf varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function bigVarintSize(value: bigint): number {
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size++;
  }
  return size;
}

/** Writes `value` as a protobuf varint at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

function writeBigVarint(out: Uint8Array, at: number, value: bigint): number {
  while (value >= 0x80n) {
    out[at++] = Number(value & 0x7fn) | 0x80;
    value >>= 7n;
  }
  out[at++] = Number(value);
  return at;
}

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 8; i++) {
    const byte = bytes[at++];
    if (byte === undefined) throw new RangeError('mvcc: truncated varint');
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return [value, at];
    multiplier *= 0x80;
  }
  throw new RangeError('mvcc: varint above 2^56 where a revision was expected');
}

function readBigVarint(bytes: Uint8Array, at: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at++];
    if (byte === undefined) throw new RangeError('mvcc: truncated varint');
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, at];
    shift += 7n;
  }
  throw new RangeError('mvcc: varint longer than 10 bytes');
}

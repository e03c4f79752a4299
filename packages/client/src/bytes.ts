/**
 * Keys and values: callers pass strings (UTF-8) or bytes; results are
 * Buffers with string helpers. Also the public shapes of KeyValue and the
 * response header, converted from the wire types once, here.
 */
import type { etcdserverpb, mvccpb } from '@holdfast/proto';

/** A key or value as callers may pass it: a string is encoded as UTF-8. */
export type Bytes = string | Uint8Array;

const emptyBuffer = Buffer.alloc(0);

/** The Buffer for a key or value; Uint8Arrays are wrapped, not copied. */
export function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function emptyBytes(): Buffer {
  return emptyBuffer;
}

/** Which server answered, and at which revision of the key space. */
export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The store revision when the request was served. */
  readonly revision: bigint;
  readonly raftTerm: bigint;
}

const zeroHeader: ResponseHeader = Object.freeze({ clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n });

export function toHeader(header: etcdserverpb.ResponseHeader | undefined): ResponseHeader {
  if (header === undefined) return zeroHeader;
  return { clusterId: header.clusterId, memberId: header.memberId, revision: header.revision, raftTerm: header.raftTerm };
}

/** A key and its value at some revision. */
export class KeyValue {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    /** Revision of the last creation of this key. */
    readonly createRevision: bigint,
    /** Revision of the last modification of this key. */
    readonly modRevision: bigint,
    /** Number of modifications since creation (1 after the first put; a delete resets it to 0). */
    readonly version: bigint,
    /** The lease attached to the key, 0n for none. */
    readonly lease: bigint,
  ) {}

  static fromWire(kv: mvccpb.KeyValue): KeyValue {
    return new KeyValue(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease);
  }

  /** The same record under another key (namespaces strip their prefix with this). */
  withKey(key: Buffer): KeyValue {
    return new KeyValue(key, this.value, this.createRevision, this.modRevision, this.version, this.lease);
  }

  /** The key decoded as UTF-8. */
  get keyString(): string {
    return this.key.toString('utf8');
  }

  /** The value decoded as UTF-8. */
  get valueString(): string {
    return this.value.toString('utf8');
  }
}

/** A safe non-negative integer argument (TTL seconds, limits), checked up front. */
export function checkCount(name: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  return BigInt(value);
}

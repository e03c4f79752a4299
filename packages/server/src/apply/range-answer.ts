/**
 * Range answers of any size without stopping the server (issue 12, finding 4).
 *
 * A Range reads the index and the backend in slices (MvccStore.rangeInSlices:
 * rangeSliceKeys keys or rangeSliceBytes bytes, then a turn of the event
 * loop), at one revision fixed when it starts. Each KeyValue goes into the
 * answer as protobuf bytes as it is read: the backend stores exactly the
 * mvccpb.KeyValue encoding, so a plain Range copies each record once, behind
 * its RangeResponse.kvs tag, into chunks of rangeAnswerChunkBytes. The
 * chunks are then copied into one message, rangeAssembleSliceBytes per turn
 * of the event loop, with room left for the header and the gRPC prefix;
 * encode() returns a view of it, which grpc-js-frames.ts frames in place.
 * No KeyValue objects, no per-key BigInts, no copy that stops the server:
 * the answer is held about twice at most (chunks and message, while
 * assembled), where the object path held it as objects plus three copies.
 *
 * Sorting and the revision filters need the KeyValues themselves: those are
 * decoded (filters as they are read), sorted and limited exactly as
 * applyRange does for a Range inside a Txn, then encoded the same way.
 *
 * The bound: an answer larger than maxRangeResponseBytes (etcd 3.4's gRPC
 * send limit, math.MaxInt32) is refused with grpc-go's ResourceExhausted, as
 * etcd refuses it. Once the KeyValues read pass the bound their bytes are no
 * longer kept (only counted, for the error's size), so one request never
 * holds more than the bound.
 */
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { decodeKeyValue, encodeKeyValue, varintSize, writeVarint, type KeyValue, type MvccStore } from '@holdfast/mvcc';
import { finishRangeKvs, isPlainRange, rangeLimitToRead, rangeRevisionFilter, revisionHeader } from './kv-apply.js';
import { ResponseTooLargeError } from '../errors.js';
import { grpcMessagePrefixBytes, withFrameRoom } from '../api/grpc/grpc-js-frames.js';

type RangeRequest = etcdserverpb.RangeRequest;
type ResponseHeader = etcdserverpb.ResponseHeader;

/**
 * The largest Range answer sent, in bytes of the encoded RangeResponse:
 * etcd 3.4's gRPC server sends at most math.MaxInt32 (its
 * MaxCallSendMsgSize default) and answers ResourceExhausted past it.
 */
export const maxRangeResponseBytes = 2 ** 31 - 1;
/**
 * Bytes per chunk the encoded KeyValues are gathered in: big enough that a
 * million-key answer is a few hundred buffers, not a million small ones
 * (each small Buffer costs ~100 bytes of bookkeeping and GC time), small
 * enough that the last, partly filled chunk wastes little.
 */
export const rangeAnswerChunkBytes = 1024 * 1024;

/** Tag of RangeResponse.kvs: field 2, length-delimited. */
const kvsFieldTag = (2 << 3) | 2;
const emptyValue = new Uint8Array(0);
const emptyChunk = Buffer.alloc(0);

/** Appends length-delimited fields to chunks of rangeAnswerChunkBytes, keeping nothing past a byte bound. */
class FieldWriter {
  readonly chunks: Buffer[] = [];
  /** Bytes written (kept or not). */
  bytes = 0;
  fields = 0;
  private current: Buffer | undefined;
  private offset = 0;
  private readonly keepBytes: number;

  constructor(keepBytes: number) {
    this.keepBytes = keepBytes;
  }

  get overBound(): boolean {
    return this.bytes > this.keepBytes;
  }

  append(tag: number, body: Uint8Array): void {
    const size = 1 + varintSize(body.length) + body.length;
    this.bytes += size;
    this.fields++;
    if (this.overBound) {
      // Refused anyway (see the file comment): stop holding the bytes.
      this.chunks.length = 0;
      this.current = undefined;
      return;
    }
    if (this.current === undefined || this.offset + size > this.current.length) {
      this.seal();
      this.current = Buffer.allocUnsafe(Math.max(rangeAnswerChunkBytes, size));
      this.offset = 0;
      this.chunks.push(this.current);
    }
    const out = this.current;
    out[this.offset++] = tag;
    this.offset = writeVarint(out, this.offset, body.length);
    out.set(body, this.offset);
    this.offset += body.length;
  }

  /** Trims the current chunk to what it holds; the next append starts a new one. */
  seal(): void {
    if (this.current === undefined) return;
    const last = this.chunks.length - 1;
    this.chunks[last] = this.current.subarray(0, this.offset);
    this.current = undefined;
  }
}

/**
 * Room kept before the KeyValues for the header, which the server fills in
 * after the read: a ResponseHeader of four 64-bit varints is at most 44
 * bytes, plus its tag and length.
 */
const headerRoomBytes = 64;
/**
 * Bytes copied per turn of the event loop while the chunks are assembled
 * into the message: 4 MiB is about a millisecond of memcpy, or up to ~40 ms
 * where first touches of fresh pages are slow (as in some sandboxes).
 */
export const rangeAssembleSliceBytes = 4 * 1024 * 1024;

/**
 * A RangeResponse whose KeyValues are already encoded, in one buffer with
 * room for the header before them. It is a RangeResponse (kvs decodes on
 * demand, for the few callers that want objects); gRPC serializes it with
 * encode() (a view, no copy), the gateway streams it as JSON with
 * encodedKvs().
 */
export class EncodedRangeResponse implements etcdserverpb.RangeResponse {
  header: ResponseHeader | undefined;
  readonly more: boolean;
  readonly count: bigint;
  /** Number of KeyValues in the answer. */
  readonly kvCount: number;
  /** Bytes of the kvs fields (tags and lengths included). */
  readonly kvsBytes: number;
  /** headerRoomBytes, then the kvs fields, then more and count; undefined for an answer over the bound, which is never sent. */
  private readonly message: Buffer | undefined;
  /** Bytes after the kvs fields (more and count). */
  private readonly afterKvsBytes: number;
  private decoded: mvccpb.KeyValue[] | undefined;

  private constructor(header: ResponseHeader, message: Buffer | undefined, kvCount: number, kvsBytes: number, more: boolean, count: bigint) {
    this.header = header;
    this.message = message;
    this.afterKvsBytes = etcdserverpb.RangeResponse.encode({ header: undefined, kvs: [], more, count }).finish().length;
    this.kvCount = kvCount;
    this.kvsBytes = kvsBytes;
    this.more = more;
    this.count = count;
  }

  /**
   * Copies the chunks into one message, rangeAssembleSliceBytes per turn of
   * the event loop, letting each chunk go once copied: the answer is never
   * held more than about twice, and the server never stops for the copy.
   */
  static async assemble(header: ResponseHeader, chunks: Buffer[], kvCount: number, kvsBytes: number, more: boolean, count: bigint): Promise<EncodedRangeResponse> {
    const after = etcdserverpb.RangeResponse.encode({ header: undefined, kvs: [], more, count }).finish();
    const message = Buffer.allocUnsafe(headerRoomBytes + kvsBytes + after.length);
    let offset = headerRoomBytes;
    let copiedInSlice = 0;
    for (let index = 0; index < chunks.length; index++) {
      const chunk = chunks[index]!;
      chunks[index] = emptyChunk;
      message.set(chunk, offset);
      offset += chunk.length;
      copiedInSlice += chunk.length;
      if (copiedInSlice >= rangeAssembleSliceBytes && index < chunks.length - 1) {
        copiedInSlice = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    message.set(after, offset);
    return new EncodedRangeResponse(header, message, kvCount, kvsBytes, more, count);
  }

  /**
   * An answer over the byte bound, whose KeyValues were counted but not
   * kept: assertSendable() refuses it with its exact size, once the server
   * has filled in the header.
   */
  static oversized(header: ResponseHeader, kvCount: number, kvsBytes: number, more: boolean, count: bigint): EncodedRangeResponse {
    return new EncodedRangeResponse(header, undefined, kvCount, kvsBytes, more, count);
  }

  get kvs(): mvccpb.KeyValue[] {
    this.decoded ??= [...this.encodedKvs()].map((bytes) => mvccpb.KeyValue.decode(bytes));
    return this.decoded;
  }

  /** Each KeyValue's encoding, in order (views into the message). */
  *encodedKvs(): Generator<Uint8Array> {
    const message = this.message;
    if (message === undefined) throw new ResponseTooLargeError(this.encodedLength(), maxRangeResponseBytes);
    const end = headerRoomBytes + this.kvsBytes;
    let at = headerRoomBytes;
    while (at < end) {
      // Every field here is kvsFieldTag, then a varint length.
      let length = 0;
      let multiplier = 1;
      at++;
      for (;;) {
        const byte = message[at++]!;
        length += (byte & 0x7f) * multiplier;
        if (byte < 0x80) break;
        multiplier *= 0x80;
      }
      yield message.subarray(at, at + length);
      at += length;
    }
  }

  /** Bytes of the encoded RangeResponse. */
  encodedLength(): number {
    return this.headerField().length + this.kvsBytes + this.afterKvsBytes;
  }

  /** Throws etcd's error if the answer (header included) is over maxRangeResponseBytes. */
  assertSendable(maxResponseBytes = maxRangeResponseBytes): void {
    const length = this.encodedLength();
    if (length > maxResponseBytes) throw new ResponseTooLargeError(length, maxResponseBytes);
  }

  /**
   * The RangeResponse in protobuf wire format, fields in number order as
   * etcd (and the generated encoder) write them: the header is written into
   * the room before the KeyValues, and the message returned as a view.
   */
  encode(): Buffer {
    if (this.message === undefined) throw new ResponseTooLargeError(this.encodedLength(), maxRangeResponseBytes);
    const header = this.headerField();
    const start = headerRoomBytes - header.length;
    this.message.set(header, start);
    // headerRoomBytes leaves at least the gRPC prefix in front (headerField checks).
    return withFrameRoom(this.message.subarray(start));
  }

  private headerField(): Uint8Array {
    if (this.header === undefined) return emptyValue;
    const field = etcdserverpb.RangeResponse.encode({ header: this.header, kvs: [], more: false, count: 0n }).finish();
    if (field.length > headerRoomBytes - grpcMessagePrefixBytes) throw new Error(`range answer: a ${field.length}-byte header`);
    return field;
  }
}

/**
 * Serves a RangeRequest from the store in slices (see the file comment),
 * with applyRange's exact semantics. `maxResponseBytes` is a parameter for
 * tests only.
 */
export async function readRange(store: MvccStore, request: RangeRequest, maxResponseBytes = maxRangeResponseBytes): Promise<EncodedRangeResponse> {
  const writer = new FieldWriter(maxResponseBytes);
  const rangeEnd = request.rangeEnd.length === 0 ? undefined : request.rangeEnd;
  const options = { limit: rangeLimitToRead(request), revision: Number(request.revision), countOnly: request.countOnly };
  const requestedLimit = Number(request.limit);
  let more = false;
  let result;
  if (isPlainRange(request)) {
    // The common case: key order, no filter, limit pushed down (one extra read says "more").
    let read = 0;
    result = await store.rangeInSlices(request.key, rangeEnd, options, (record) => {
      read++;
      if (requestedLimit > 0 && read > requestedLimit) {
        more = true;
        return;
      }
      writer.append(kvsFieldTag, request.keysOnly ? encodeKeyValue({ ...decodeKeyValue(record), value: emptyValue }) : record);
    });
  } else {
    const keep = rangeRevisionFilter(request);
    let kept: KeyValue[] = [];
    let keptBytes = 0;
    result = await store.rangeInSlices(request.key, rangeEnd, options, (record) => {
      const kv = decodeKeyValue(record);
      if (!keep(kv)) return;
      keptBytes += 1 + varintSize(record.length) + record.length;
      // Past the bound the answer is refused: count, but keep nothing.
      if (keptBytes > maxResponseBytes) kept = [];
      else kept.push(kv);
    });
    // Sorted or filtered answers are no larger than what was kept; the limit
    // applies after sorting, so the error's size is the upper bound read.
    if (keptBytes > maxResponseBytes) throw new ResponseTooLargeError(keptBytes, maxResponseBytes);
    const finished = finishRangeKvs(request, kept);
    more = finished.more;
    for (const kv of finished.kvs) writer.append(kvsFieldTag, encodeKeyValue(request.keysOnly ? { ...kv, value: emptyValue } : kv));
  }
  writer.seal();
  // Refused by assertSendable() with its exact size once the header is filled in.
  if (writer.overBound) return EncodedRangeResponse.oversized(revisionHeader(result.revision), writer.fields, writer.bytes, more, BigInt(result.count));
  return EncodedRangeResponse.assemble(revisionHeader(result.revision), writer.chunks, writer.fields, writer.bytes, more, BigInt(result.count));
}



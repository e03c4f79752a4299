/**
 * A strict protobuf decoder for requests: it refuses exactly the bytes etcd
 * 3.4 refuses, with etcd's error text, and then lets the generated ts-proto
 * codec build the object.
 *
 * Why: ts-proto's decoders are lenient. They stop at tag 0 (so 2 MB of
 * zero bytes decode as an empty, valid request), skip a known field sent
 * with the wrong wire type, keep every member of a oneof that appears, and
 * read only the low 32 bits of a tag. etcd's gogoproto Unmarshal() methods
 * refuse the first two, keep the last oneof member, and read 64-bit tags.
 *
 * How: {@link checkMessage} walks the bytes once against the message's
 * schema, following the Go code etcd 3.4.23 runs (gogoproto 1.3.2's
 * generated Unmarshal and skipRpc for etcdserverpb; golang/protobuf 1.3.5's
 * table_unmarshal.go for grpc.health.v1), and throws a
 * {@link ProtoDecodeError} carrying Go's error text. It also notes the
 * byte ranges the generated decoder would read differently from Go
 * (unknown fields, superseded oneof members); {@link strictDecoder}
 * overwrites those in a copy with an unknown field the generated decoder
 * skips, so the object it builds is the one etcd's Go code builds.
 *
 * Transport-independent: grpc-js's glue (packages/server) and any other
 * gRPC transport call {@link strictDecoder}'s result as the deserializer and
 * map a ProtoDecodeError to gRPC status INTERNAL with grpc-go's prefix.
 */
import { isUtf8 } from 'node:buffer';
import { wireTypeOf, type MessageSchema } from './schema.js';

/** The request's bytes are not a valid encoding of its message; `message` is the text Go's unmarshaler returns. */
export class ProtoDecodeError extends Error {
  override name = 'ProtoDecodeError';
}

/**
 * A length so large that a position plus it overflows int64. etcd 3.4's
 * gogo code does not check for that overflow: it panics and the whole etcd
 * process exits (measured: a 15-byte RangeRequest `0a ff ff ff ff ff ff
 * ff ff 7f` kills etcd 3.4.23). Holdfast answers with the error later gogo
 * versions give ("negative length"); comparisons with etcd must skip these.
 */
export class ProtoLengthOverflowError extends ProtoDecodeError {
  override name = 'ProtoLengthOverflowError';
}

/**
 * Deepest nesting of messages a request may have (the top message counts
 * as 1). Only TxnRequest nests (TxnRequest -> RequestOp -> TxnRequest ...,
 * two levels per txn), and etcd 3.4's decoder has no limit: its validation
 * then refuses a txn nested deeper than --max-txn-ops + 1 levels, since
 * each level uses at least one op of the budget its parent left
 * (checkTxnRequest). 514 levels hold 256 txn levels plus the top, so at
 * the default --max-txn-ops (128) every nesting etcd could accept is
 * decoded and refused or accepted by the same validation; anything deeper
 * is ProtoNestingError, which the server answers as etcd would have,
 * "too many operations in txn request". The generated decoders allow 1,024
 * levels (generate.sh), so a request accepted here, wrapped once more in
 * an InternalRaftRequest, always decodes again from the WAL.
 */
export const maxMessageDepth = 514;

/** A request nested deeper than {@link maxMessageDepth}. */
export class ProtoNestingError extends ProtoDecodeError {
  override name = 'ProtoNestingError';
}

const int64Max = (1n << 63n) - 1n;
/** Below this many bytes a length fits a double exactly, and so does any position plus it. */
const exactLengthLimit = 2 ** 53;

const unexpectedEof = (): ProtoDecodeError => new ProtoDecodeError('unexpected EOF');
const integerOverflow = (): ProtoDecodeError => new ProtoDecodeError('proto: integer overflow');
const negativeLengthText = 'proto: negative length found during unmarshaling';

/**
 * One check's state: the bytes, the last varint read (as two uint32
 * halves, so no bigint is made on the hot path), where the last
 * length-delimited data started, and the ranges to hide from the generated
 * decoder as [start, end, fillerTag] triples.
 */
class Walk {
  lo = 0;
  hi = 0;
  dataStart = 0;
  readonly hidden: number[] = [];
  constructor(readonly bytes: Uint8Array) {}

  /** gogo's varint loop: at most 10 bytes (shift >= 64 is "integer overflow"); bits past 64 are dropped. */
  varint(pos: number, end: number): number {
    const bytes = this.bytes;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift >= 64) throw integerOverflow();
      if (pos >= end) throw unexpectedEof();
      const b = bytes[pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) break;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return pos;
  }

  /** The last varint as Go's uint64, for error texts. */
  uint64(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /**
   * Reads a length (a Go int) at `pos`; sets dataStart and returns where
   * the data ends (possibly past `end`: callers check). `base` is where
   * Go's slice starts, as Go's positions are relative to it.
   */
  lengthEnd(pos: number, end: number, base: number): number {
    pos = this.varint(pos, end);
    this.dataStart = pos;
    if (this.hi & 0x80000000) throw new ProtoDecodeError(negativeLengthText);
    const length = this.hi * 2 ** 32 + this.lo;
    if (length >= exactLengthLimit && BigInt(pos - base) + this.uint64() > int64Max) throw new ProtoLengthOverflowError(negativeLengthText);
    return pos + length;
  }

  hide(start: number, end: number, schema: MessageSchema): void {
    this.hidden.push(start, end, schema.fillerFieldNumber << 3);
  }

  /** gogo's generated Unmarshal() of `schema` over bytes[start, end). */
  gogoMessage(schema: MessageSchema, start: number, end: number, depth: number): void {
    if (depth > maxMessageDepth) throw new ProtoNestingError(`proto: ${schema.goTypeName}: messages nested deeper than ${maxMessageDepth}`);
    // Where the last member seen of each oneof starts and ends: the first
    // oneof met in locals (requests have at most one), any other in a map.
    let firstOneof: string | undefined;
    let firstOneofStart = 0;
    let firstOneofEnd = 0;
    let otherOneofs: Map<string, readonly [number, number]> | undefined;
    let pos = start;
    while (pos < end) {
      const fieldStart = pos;
      pos = this.varint(pos, end);
      const wireType = this.lo & 7;
      const fieldNumber = ((this.lo >>> 3) | (this.hi << 29)) | 0;
      if (wireType === 4) throw new ProtoDecodeError(`proto: ${schema.goTypeName}: wiretype end group for non-group`);
      if (fieldNumber <= 0) throw new ProtoDecodeError(`proto: ${schema.goTypeName}: illegal tag ${fieldNumber} (wire type ${this.uint64()})`);
      const field = schema.fieldsByNumber[fieldNumber];
      if (field === undefined) {
        pos = this.gogoSkip(fieldStart, end, start);
        this.hide(fieldStart, pos, schema);
        continue;
      }
      if (wireType !== wireTypeOf(field.kind) && !(field.kind === 'packable' && wireType === 2)) {
        throw new ProtoDecodeError(`proto: wrong wireType = ${wireType} for field ${field.goName}`);
      }
      if (wireType === 0) {
        pos = this.varint(pos, end);
      } else {
        const dataEnd = this.lengthEnd(pos, end, start);
        if (dataEnd > end) throw unexpectedEof();
        const dataStart = this.dataStart;
        pos = dataEnd;
        if (field.kind === 'message') this.gogoMessage(field.message!(), dataStart, dataEnd, depth + 1);
        else if (field.kind === 'packable') {
          // gogo reads packed varints against the message's end, not the field's: the last may run past it.
          for (let at = dataStart; at < dataEnd; ) pos = at = this.varint(at, end);
        }
      }
      if (field.oneof !== undefined) {
        // Go keeps the last member only; the generated decoder would keep them all.
        if (field.oneof === firstOneof) {
          this.hide(firstOneofStart, firstOneofEnd, schema);
          firstOneofStart = fieldStart;
          firstOneofEnd = pos;
        } else if (firstOneof === undefined) {
          firstOneof = field.oneof;
          firstOneofStart = fieldStart;
          firstOneofEnd = pos;
        } else {
          // A second oneof in one message (no request has one yet): the general case.
          otherOneofs ??= new Map();
          const previous = otherOneofs.get(field.oneof);
          if (previous !== undefined) this.hide(previous[0], previous[1], schema);
          otherOneofs.set(field.oneof, [fieldStart, pos]);
        }
      }
    }
  }

  /** gogo's skipRpc for the unknown field starting (tag included) at `fieldStart`; returns where it ends. */
  private gogoSkip(fieldStart: number, end: number, messageStart: number): number {
    let pos = this.varint(fieldStart, end);
    const wireType = this.lo & 7;
    pos = wireType === 3 ? this.gogoSkipGroup(pos, end, messageStart) : this.gogoSkipValue(wireType, pos, end, messageStart);
    if (pos > end) throw unexpectedEof();
    return pos;
  }

  /**
   * skipRpc's cases for one value of wire type 0, 1, 2 or 5 starting at
   * `pos`; returns where it ends (unchecked against `end`, as in Go). Other
   * wire types are refused, as Go refuses them; the callers take 3 and 4.
   */
  private gogoSkipValue(wireType: number, pos: number, end: number, messageStart: number): number {
    switch (wireType) {
      case 0:
        return this.varint(pos, end);
      case 1:
        return pos + 8;
      case 2:
        return this.lengthEnd(pos, end, messageStart);
      case 5:
        return pos + 4;
      default:
        throw new ProtoDecodeError(`proto: illegal wireType ${wireType}`);
    }
  }

  /**
   * The rest of an unknown group after its start tag, as skipRpc's case 3
   * does it (recursively there, with a depth count here): fields are
   * skipped by wire type until the end-group tag that closes the group;
   * field numbers inside are not checked, nor end tags against start tags.
   */
  private gogoSkipGroup(pos: number, end: number, messageStart: number): number {
    let depth = 1;
    for (;;) {
      pos = this.varint(pos, end);
      const wireType = this.lo & 7;
      if (wireType === 3) depth++;
      else if (wireType === 4) {
        if (--depth === 0) return pos;
      } else pos = this.gogoSkipValue(wireType, pos, end, messageStart);
    }
  }

  /**
   * golang/protobuf 1.3's varint (decodeVarint): at most 10 bytes, the
   * 10th below 2; returns the end, or -1 where Go returns n == 0.
   */
  goVarint(pos: number, end: number): number {
    const bytes = this.bytes;
    let lo = 0;
    let hi = 0;
    for (let index = 0; index < 10; index++) {
      if (pos >= end) return -1;
      const b = bytes[pos++]!;
      if (index === 9 && b >= 2) return -1;
      const shift = index * 7;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return pos;
      }
    }
    return -1;
  }

  /** golang/protobuf 1.3's unmarshalInfo.unmarshal (table_unmarshal.go) for a message of 'utf8' fields. */
  goMessage(schema: MessageSchema, start: number, end: number): void {
    let invalidUtf8: string | undefined;
    let pos = start;
    while (pos < end) {
      const fieldStart = pos;
      pos = this.goVarint(pos, end);
      if (pos < 0) throw unexpectedEof();
      const wireType = this.lo & 7;
      if (this.hi === 0 && this.lo >>> 3 === 0) throw new ProtoDecodeError(`proto: ${schema.goTypeName}: illegal tag 0 (wire type ${wireType})`);
      const field = this.hi === 0 ? schema.fieldsByNumber[this.lo >>> 3] : undefined;
      if (field !== undefined && wireType === 2) {
        pos = this.goVarint(pos, end);
        if (pos < 0 || this.hi !== 0 || this.lo > end - pos) throw unexpectedEof();
        const dataEnd = pos + this.lo;
        // Go finishes the message and reports the first invalid string last.
        if (invalidUtf8 === undefined && !isUtf8(this.bytes.subarray(pos, dataEnd))) {
          invalidUtf8 = `proto: field "${schema.fullName}.${field.protoName}" contains invalid UTF-8`;
        }
        pos = dataEnd;
        continue;
      }
      // An unknown field, or a known one with the wrong wire type: Go skips both.
      pos = this.goSkip(pos, end, wireType);
      this.hide(fieldStart, pos, schema);
    }
    if (invalidUtf8 !== undefined) throw new ProtoDecodeError(invalidUtf8);
  }

  /** golang/protobuf 1.3's skipField. */
  private goSkip(pos: number, end: number, wireType: number): number {
    switch (wireType) {
      case 0:
        pos = this.goVarint(pos, end);
        if (pos < 0) throw unexpectedEof();
        return pos;
      case 5:
        if (end - pos < 4) throw unexpectedEof();
        return pos + 4;
      case 1:
        if (end - pos < 8) throw unexpectedEof();
        return pos + 8;
      case 2: {
        const dataStart = this.goVarint(pos, end);
        if (dataStart < 0 || this.hi !== 0 || end - dataStart < this.lo) throw unexpectedEof();
        return dataStart + this.lo;
      }
      case 3: {
        const groupEnd = this.goFindEndGroup(pos, end);
        if (groupEnd < 0) throw unexpectedEof();
        return groupEnd;
      }
      default:
        throw new ProtoDecodeError(`proto: can't skip unknown wire type ${wireType}`);
    }
  }

  /** golang/protobuf 1.3's findEndGroup: the end of the first unpaired end-group tag, or -1. */
  private goFindEndGroup(pos: number, end: number): number {
    let depth = 1;
    for (;;) {
      pos = this.goVarint(pos, end);
      if (pos < 0) return -1;
      switch (this.lo & 7) {
        case 0:
          pos = this.goVarint(pos, end);
          if (pos < 0) return -1;
          break;
        case 5:
          if (end - pos < 4) return -1;
          pos += 4;
          break;
        case 1:
          if (end - pos < 8) return -1;
          pos += 8;
          break;
        case 2:
          pos = this.goVarint(pos, end);
          if (pos < 0 || this.hi !== 0 || end - pos < this.lo) return -1;
          pos += this.lo;
          break;
        case 3:
          depth++;
          break;
        case 4:
          if (--depth === 0) return pos;
          break;
        default:
          return -1;
      }
    }
  }
}

/**
 * Checks that `bytes` are an encoding of `schema`'s message that etcd 3.4
 * accepts; throws a {@link ProtoDecodeError} with Go's text where it does
 * not. Returns the [start, end, fillerTag] triples of ranges the generated
 * decoder must not see (empty for ordinary requests).
 */
export function checkMessage(schema: MessageSchema, bytes: Uint8Array): readonly number[] {
  const walk = new Walk(bytes);
  if (schema.dialect === 'gogo') walk.gogoMessage(schema, 0, bytes.length, 1);
  else walk.goMessage(schema, 0, bytes.length);
  return walk.hidden;
}

/**
 * A copy of `bytes` with each hidden range overwritten by one unknown
 * varint field (the filler tag, then a zero padded to fill the range: 0x80
 * ... 0x00), which the generated decoder skips. Ranges inside a range
 * already overwritten are left alone.
 */
function withRangesHidden(bytes: Uint8Array, hidden: readonly number[]): Buffer {
  const copy = Buffer.from(bytes);
  const order: number[] = [];
  for (let i = 0; i < hidden.length; i += 3) order.push(i);
  order.sort((a, b) => hidden[a]! - hidden[b]! || hidden[b + 1]! - hidden[a + 1]!);
  let coveredUntil = 0;
  for (const i of order) {
    const start = hidden[i]!;
    const end = hidden[i + 1]!;
    if (end <= coveredUntil) continue;
    copy[start] = hidden[i + 2]!;
    copy.fill(0x80, start + 1, end - 1);
    copy[end - 1] = 0;
    coveredUntil = end;
  }
  return copy;
}

/** The generated codec of a message (ts-proto's `Msg`), or a service definition's deserializer. */
export interface MessageDecoder<T> {
  decode(input: Buffer): T;
}

/**
 * A deserializer for `schema`'s message: checks the bytes as etcd would
 * ({@link checkMessage}; throws ProtoDecodeError) and decodes them with the
 * generated codec.
 */
export function strictDecoder<T>(schema: MessageSchema, codec: MessageDecoder<T>): (bytes: Buffer) => T {
  return (bytes) => {
    const hidden = checkMessage(schema, bytes);
    return codec.decode(hidden.length === 0 ? bytes : withRangesHidden(bytes, hidden));
  };
}

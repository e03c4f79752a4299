/**
 * The wire encoding of WatchResponse, with each event encoded once.
 *
 * One revision fans out to every watcher that covers it: a write seen by a
 * thousand watchers becomes a thousand WatchResponses carrying the same
 * event. Encoding the event inside each of them was most of the CPU a
 * watch fan-out cost. Here an event's bytes are computed the first time a
 * response carries it and kept with the event object (a WeakMap, so they go
 * when the event does); each response then encodes only its own few fields
 * and appends the events' bytes. An event caught up from history
 * (StoredPutEvent) needs neither: its bytes are the stored KeyValue's.
 *
 * The bytes are exactly the generated encoder's: fields in number order,
 * zero values left out, and `events` (field 11) is the highest-numbered
 * field, so it goes last. A property test checks the two encoders agree on
 * arbitrary responses (packages/server/test/watch-response-codec.*).
 */
import type { etcdserverpb } from '@holdfast/proto';
import { mvccpb } from '@holdfast/proto';
import { varintSize, writeVarint, type KeyValue } from '@holdfast/mvcc';
import { grpcMessagePrefixBytes, withFrameRoom } from '../api/grpc/grpc-js-frames.js';
import { toProtoKeyValue } from '../apply/kv-apply.js';

/** Tag of WatchResponse.events: field 11, length-delimited. */
const eventsFieldTag = (11 << 3) | 2;

/**
 * Each event's encoding as an element of WatchResponse.events, in two
 * parts: `prefix` (tag and length) then `body` (the Event message).
 */
interface EncodedEvent {
  readonly prefix: Uint8Array;
  readonly body: Uint8Array;
}
const encodedEvents = new WeakMap<mvccpb.Event, EncodedEvent>();

/**
 * A PUT without prev_kv caught up from history. Its Event message is the
 * kv field alone (type PUT is 0 and left out), and the stored record is
 * that KeyValue's wire encoding (mvcc key-value.ts), so the response copies
 * the record once, behind two tags and lengths, with nothing encoded and
 * nothing cached per event. `kv`, the decoded form, is built only if read
 * (the JSON gateway does).
 */
export class StoredPutEvent implements mvccpb.Event {
  readonly type = mvccpb.Event_EventType.PUT;
  readonly prevKv: mvccpb.KeyValue | undefined = undefined;
  /** Bytes this event adds to a WatchResponse. */
  readonly encodedBytes: number;
  private decodedKv: mvccpb.KeyValue | undefined;

  constructor(
    private readonly stored: KeyValue,
    /** The KeyValue's wire encoding, as the store keeps it. */
    readonly encodedKv: Uint8Array,
  ) {
    const kvBytes = encodedKv.length;
    const eventBytes = 1 + varintSize(kvBytes) + kvBytes;
    this.encodedBytes = 1 + varintSize(eventBytes) + eventBytes;
  }

  get kv(): mvccpb.KeyValue {
    return (this.decodedKv ??= toProtoKeyValue(this.stored));
  }

  /** Writes the event at `at` in `out`; returns the offset after it. */
  writeTo(out: Buffer, at: number): number {
    const kvBytes = this.encodedKv.length;
    out[at++] = eventsFieldTag;
    at = writeVarint(out, at, 1 + varintSize(kvBytes) + kvBytes);
    out[at++] = eventKvFieldTag;
    at = writeVarint(out, at, kvBytes);
    out.set(this.encodedKv, at);
    return at + kvBytes;
  }
}

/** Tag of Event.kv: field 2, length-delimited. */
const eventKvFieldTag = (2 << 3) | 2;

/**
 * `response` in protobuf wire format, identical to
 * etcdserverpb.WatchResponse.encode, built with room for the gRPC message
 * prefix in front (grpc-js-frames.ts) so grpc-js sends it without a copy.
 */
export function encodeWatchResponse(response: etcdserverpb.WatchResponse): Buffer {
  const fields = encodeFieldsBeforeEvents(response);
  let length = fields.length;
  for (const event of response.events) length += encodedEventBytes(event);
  const framed = Buffer.allocUnsafe(grpcMessagePrefixBytes + length);
  const out = framed.subarray(grpcMessagePrefixBytes);
  out.set(fields, 0);
  let offset = fields.length;
  for (const event of response.events) {
    if (event instanceof StoredPutEvent) {
      offset = event.writeTo(out, offset);
      continue;
    }
    const { prefix, body } = encodedEvent(event);
    out.set(prefix, offset);
    offset += prefix.length;
    out.set(body, offset);
    offset += body.length;
  }
  return withFrameRoom(out);
}

/**
 * Fields 1 to 7 of WatchResponse, written by hand: the generic writer's
 * per-message setup cost more than these few varints. Zero values are left
 * out, as proto3 requires and the generated encoder does.
 */
function encodeFieldsBeforeEvents(response: etcdserverpb.WatchResponse): number[] {
  const out: number[] = [];
  const header = response.header;
  if (header !== undefined) {
    const headerBytes: number[] = [];
    if (header.clusterId !== 0n) pushVarintField(headerBytes, 1, header.clusterId);
    if (header.memberId !== 0n) pushVarintField(headerBytes, 2, header.memberId);
    if (header.revision !== 0n) pushVarintField(headerBytes, 3, header.revision);
    if (header.raftTerm !== 0n) pushVarintField(headerBytes, 4, header.raftTerm);
    out.push((1 << 3) | 2);
    pushVarint(out, headerBytes.length);
    for (const byte of headerBytes) out.push(byte);
  }
  if (response.watchId !== 0n) pushVarintField(out, 2, response.watchId);
  if (response.created) out.push(3 << 3, 1);
  if (response.canceled) out.push(4 << 3, 1);
  if (response.compactRevision !== 0n) pushVarintField(out, 5, response.compactRevision);
  if (response.cancelReason !== '') {
    const reason = Buffer.from(response.cancelReason, 'utf8');
    out.push((6 << 3) | 2);
    pushVarint(out, reason.length);
    for (const byte of reason) out.push(byte);
  }
  if (response.fragment) out.push(7 << 3, 1);
  return out;
}

/** A varint field: its tag, then the value as a 64-bit two's-complement varint (int64 and uint64 alike). */
function pushVarintField(out: number[], fieldNumber: number, value: bigint): void {
  out.push(fieldNumber << 3);
  if (value > 0n && value <= maxSafeBigInt) {
    pushVarint(out, Number(value));
    return;
  }
  let rest = BigInt.asUintN(64, value);
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
}

const maxSafeBigInt = BigInt(Number.MAX_SAFE_INTEGER);

/** A non-negative safe integer as a varint. */
function pushVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/** Bytes `event` adds to a WatchResponse (tag and length prefix included). */
export function encodedEventBytes(event: mvccpb.Event): number {
  if (event instanceof StoredPutEvent) return event.encodedBytes;
  const { prefix, body } = encodedEvent(event);
  return prefix.length + body.length;
}

function encodedEvent(event: mvccpb.Event): EncodedEvent {
  let encoded = encodedEvents.get(event);
  if (encoded === undefined) {
    const body = mvccpb.Event.encode(event).finish();
    const prefix: number[] = [eventsFieldTag];
    pushVarint(prefix, body.length);
    encoded = { prefix: Buffer.from(prefix), body };
    encodedEvents.set(event, encoded);
  }
  return encoded;
}

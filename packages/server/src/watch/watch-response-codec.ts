/**
 * The wire encoding of WatchResponse, with each event encoded once.
 *
 * One revision fans out to every watcher that covers it: a write seen by a
 * thousand watchers becomes a thousand WatchResponses carrying the same
 * event. Encoding the event inside each of them was most of the CPU a
 * watch fan-out cost. Here an event's bytes are computed the first time a
 * response carries it and kept with the event object (a WeakMap, so they go
 * when the event does); each response then encodes only its own few fields
 * and appends the events' bytes.
 *
 * The bytes are exactly the generated encoder's: fields in number order,
 * zero values left out, and `events` (field 11) is the highest-numbered
 * field, so it goes last. A property test checks the two encoders agree on
 * arbitrary responses (packages/server/test/watch-response-codec.*).
 */
import type { etcdserverpb } from '@holdfast/proto';
import { mvccpb } from '@holdfast/proto';

/** Tag of WatchResponse.events: field 11, length-delimited. */
const eventsFieldTag = (11 << 3) | 2;

/** Each event's encoding as an element of WatchResponse.events: tag, length, Event bytes. */
const encodedEvents = new WeakMap<mvccpb.Event, Uint8Array>();

/** `response` in protobuf wire format, identical to etcdserverpb.WatchResponse.encode. */
export function encodeWatchResponse(response: etcdserverpb.WatchResponse): Buffer {
  const fields = encodeFieldsBeforeEvents(response);
  const events = response.events.map(encodedEvent);
  let length = fields.length;
  for (const bytes of events) length += bytes.length;
  const out = Buffer.allocUnsafe(length);
  out.set(fields, 0);
  let offset = fields.length;
  for (const bytes of events) {
    out.set(bytes, offset);
    offset += bytes.length;
  }
  return out;
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

/**
 * Records `event`'s encoding from its KeyValue's stored bytes, which are
 * that KeyValue's wire encoding (mvcc key-value.ts): a PUT without prev_kv
 * is the kv field alone (type PUT is 0, left out), so events caught up
 * from history skip the generic encoder.
 */
export function useStoredKeyValueEncoding(event: mvccpb.Event, encodedKv: Uint8Array): void {
  if (event.type !== mvccpb.Event_EventType.PUT || event.prevKv !== undefined || encodedEvents.has(event)) return;
  const kvPrefix: number[] = [(2 << 3) | 2];
  pushVarint(kvPrefix, encodedKv.length);
  const eventLength = kvPrefix.length + encodedKv.length;
  const prefix: number[] = [eventsFieldTag];
  pushVarint(prefix, eventLength);
  const bytes = Buffer.allocUnsafe(prefix.length + eventLength);
  bytes.set(prefix, 0);
  bytes.set(kvPrefix, prefix.length);
  bytes.set(encodedKv, prefix.length + kvPrefix.length);
  encodedEvents.set(event, bytes);
}

/** Bytes `event` adds to a WatchResponse (tag and length prefix included). */
export function encodedEventBytes(event: mvccpb.Event): number {
  return encodedEvent(event).length;
}

function encodedEvent(event: mvccpb.Event): Uint8Array {
  let bytes = encodedEvents.get(event);
  if (bytes === undefined) {
    const body = mvccpb.Event.encode(event).finish();
    const prefix: number[] = [eventsFieldTag];
    pushVarint(prefix, body.length);
    bytes = Buffer.allocUnsafe(prefix.length + body.length);
    bytes.set(prefix, 0);
    bytes.set(body, prefix.length);
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

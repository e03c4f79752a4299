/**
 * The request messages the gateway reads with Go's JSON rules (go-json.ts):
 * their fields in .proto order with .proto names and Go types, and decoders
 * that give the generated message (defaults filled in by fromPartial).
 */
import { decodeFirstValue, unmarshalMessage, type MessageSchema } from './go-json.js';

const int64 = { kind: 'int64' } as const;
const bool = { kind: 'bool' } as const;
const bytes = { kind: 'bytes' } as const;

export const leaseGrantRequestSchema: MessageSchema = {
  fields: [
    { name: 'TTL', property: 'TTL', type: int64 },
    { name: 'ID', property: 'ID', type: int64 },
  ],
};
export const leaseRevokeRequestSchema: MessageSchema = { fields: [{ name: 'ID', property: 'ID', type: int64 }] };
export const leaseKeepAliveRequestSchema: MessageSchema = { fields: [{ name: 'ID', property: 'ID', type: int64 }] };
export const leaseTimeToLiveRequestSchema: MessageSchema = {
  fields: [
    { name: 'ID', property: 'ID', type: int64 },
    { name: 'keys', property: 'keys', type: bool },
  ],
};
export const leaseLeasesRequestSchema: MessageSchema = { fields: [] };

const watchCreateRequestSchema: MessageSchema = {
  fields: [
    { name: 'key', property: 'key', type: bytes },
    { name: 'range_end', property: 'rangeEnd', type: bytes },
    { name: 'start_revision', property: 'startRevision', type: int64 },
    { name: 'progress_notify', property: 'progressNotify', type: bool },
    {
      name: 'filters',
      property: 'filters',
      repeated: true,
      type: { kind: 'enum', goType: 'etcdserverpb.WatchCreateRequest_FilterType', values: { NOPUT: 0, NODELETE: 1 } },
    },
    { name: 'prev_kv', property: 'prevKv', type: bool },
    { name: 'watch_id', property: 'watchId', type: int64 },
    { name: 'fragment', property: 'fragment', type: bool },
  ],
};
export const watchRequestSchema: MessageSchema = {
  fields: [],
  oneof: [
    { name: 'create_request', property: 'createRequest', type: { kind: 'message', schema: watchCreateRequestSchema } },
    { name: 'cancel_request', property: 'cancelRequest', type: { kind: 'message', schema: { fields: [{ name: 'watch_id', property: 'watchId', type: int64 }] } } },
    { name: 'progress_request', property: 'progressRequest', type: { kind: 'message', schema: { fields: [] } } },
  ],
};

/** A generated message type's fromPartial (which fills in defaults). */
export interface PartialMessageType<T> {
  fromPartial(object: never): T;
}

/** One decoded JSON value as a message, or an error with Go's text (GoJsonError). */
export function messageFromValue<T>(raw: Buffer, schema: MessageSchema, type: PartialMessageType<T>): T {
  return type.fromPartial(unmarshalMessage(raw, schema) as never);
}

/** A unary request body as grpc-gateway reads it: its first JSON value; empty is an empty message. */
export function messageFromBody<T>(body: Buffer | undefined, schema: MessageSchema, type: PartialMessageType<T>): T {
  const raw = decodeFirstValue(body ?? Buffer.alloc(0));
  return raw === undefined ? type.fromPartial({} as never) : messageFromValue(raw, schema, type);
}

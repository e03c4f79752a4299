/**
 * The request messages the gateway reads with Go's JSON rules (go-json.ts):
 * their fields in .proto order with .proto names and Go types, and decoders
 * that give the generated message (defaults filled in by fromPartial).
 */
import { decodeFirstValue, unmarshalMessage, type FieldSchema, type MessageSchema } from './go-json.js';

const int64 = { kind: 'int64' } as const;
const uint64 = { kind: 'uint64' } as const;
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

// ---- KV ----

const sortOrder = { kind: 'enum', goType: 'etcdserverpb.RangeRequest_SortOrder', values: { NONE: 0, ASCEND: 1, DESCEND: 2 } } as const;
const sortTarget = { kind: 'enum', goType: 'etcdserverpb.RangeRequest_SortTarget', values: { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } } as const;

export const rangeRequestSchema: MessageSchema = {
  fields: [
    { name: 'key', property: 'key', type: bytes },
    { name: 'range_end', property: 'rangeEnd', type: bytes },
    { name: 'limit', property: 'limit', type: int64 },
    { name: 'revision', property: 'revision', type: int64 },
    { name: 'sort_order', property: 'sortOrder', type: sortOrder },
    { name: 'sort_target', property: 'sortTarget', type: sortTarget },
    { name: 'serializable', property: 'serializable', type: bool },
    { name: 'keys_only', property: 'keysOnly', type: bool },
    { name: 'count_only', property: 'countOnly', type: bool },
    { name: 'min_mod_revision', property: 'minModRevision', type: int64 },
    { name: 'max_mod_revision', property: 'maxModRevision', type: int64 },
    { name: 'min_create_revision', property: 'minCreateRevision', type: int64 },
    { name: 'max_create_revision', property: 'maxCreateRevision', type: int64 },
  ],
};
export const putRequestSchema: MessageSchema = {
  fields: [
    { name: 'key', property: 'key', type: bytes },
    { name: 'value', property: 'value', type: bytes },
    { name: 'lease', property: 'lease', type: int64 },
    { name: 'prev_kv', property: 'prevKv', type: bool },
    { name: 'ignore_value', property: 'ignoreValue', type: bool },
    { name: 'ignore_lease', property: 'ignoreLease', type: bool },
  ],
};
export const deleteRangeRequestSchema: MessageSchema = {
  fields: [
    { name: 'key', property: 'key', type: bytes },
    { name: 'range_end', property: 'rangeEnd', type: bytes },
    { name: 'prev_kv', property: 'prevKv', type: bool },
  ],
};
const compareSchema: MessageSchema = {
  fields: [
    { name: 'result', property: 'result', type: { kind: 'enum', goType: 'etcdserverpb.Compare_CompareResult', values: { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } } },
    { name: 'target', property: 'target', type: { kind: 'enum', goType: 'etcdserverpb.Compare_CompareTarget', values: { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } } },
    { name: 'key', property: 'key', type: bytes },
    { name: 'range_end', property: 'rangeEnd', type: bytes },
  ],
  oneof: [
    { name: 'version', property: 'version', type: int64 },
    { name: 'create_revision', property: 'createRevision', type: int64 },
    { name: 'mod_revision', property: 'modRevision', type: int64 },
    { name: 'value', property: 'value', type: bytes },
    { name: 'lease', property: 'lease', type: int64 },
  ],
};
/** RequestOp and TxnRequest refer to each other (a txn op can be a txn). */
const requestOpMembers: FieldSchema[] = [];
const requestOpSchema: MessageSchema = { fields: [], oneof: requestOpMembers };
export const txnRequestSchema: MessageSchema = {
  fields: [
    { name: 'compare', property: 'compare', repeated: true, type: { kind: 'message', schema: compareSchema } },
    { name: 'success', property: 'success', repeated: true, type: { kind: 'message', schema: requestOpSchema } },
    { name: 'failure', property: 'failure', repeated: true, type: { kind: 'message', schema: requestOpSchema } },
  ],
};
requestOpMembers.push(
  { name: 'request_range', property: 'requestRange', type: { kind: 'message', schema: rangeRequestSchema } },
  { name: 'request_put', property: 'requestPut', type: { kind: 'message', schema: putRequestSchema } },
  { name: 'request_delete_range', property: 'requestDeleteRange', type: { kind: 'message', schema: deleteRangeRequestSchema } },
  { name: 'request_txn', property: 'requestTxn', type: { kind: 'message', schema: txnRequestSchema } },
);
export const compactionRequestSchema: MessageSchema = {
  fields: [
    { name: 'revision', property: 'revision', type: int64 },
    { name: 'physical', property: 'physical', type: bool },
  ],
};

// ---- maintenance and cluster (etcd 3.4's messages) ----

/** StatusRequest, DefragmentRequest, HashRequest, MemberListRequest (3.4 has no linearizable). */
export const emptyRequestSchema: MessageSchema = { fields: [] };
export const alarmRequestSchema: MessageSchema = {
  fields: [
    { name: 'action', property: 'action', type: { kind: 'enum', goType: 'etcdserverpb.AlarmRequest_AlarmAction', values: { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } } },
    { name: 'memberID', property: 'memberID', type: uint64 },
    { name: 'alarm', property: 'alarm', type: { kind: 'enum', goType: 'etcdserverpb.AlarmType', values: { NONE: 0, NOSPACE: 1, CORRUPT: 2 } } },
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
